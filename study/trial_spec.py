"""One trial as the driver hands it to a Ray worker: a typed spec, a plain dict only at the Ray boundary.

Tune's trial config (``param_space`` of ``study.sweep`` merged with a searcher's suggestion) is a
dict in three parts; :meth:`TrialSpec.from_config` reads it once on the worker, checking its keys:

- ``config["run"]``: the GAN's nested base run config (``resolve_config`` accepts it);
- the searched parameters: flat dotted keys at the top level (Optuna), or ``config["grid_point"]``;
- ``config["study"]``: :class:`TrialStudy`, where the trial reports (tracking URI, experiment,
  parent run, study name), which GAN and search it belongs to, how it is ranked (metric and mode,
  resolved once on the driver; the rank rule) and its place in the study (trial index, repeat of,
  scheduler).

Nothing here imports Ray or MLflow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from trainables.ranking import RankRule
from trainables.schema import apply_point

DEFAULT_LOSS_EVERY = 1  # log the losses of every step (MLflow receives them in batches)
DEFAULT_FLUSH_EVERY = 50  # steps between two MlflowClient.log_batch calls of the losses
SEARCH_KINDS = ("optuna", "grid")  # where the searched point sits in the trial config (see to_config)


@dataclass(frozen=True)
class TrialStudy:
    """``config["study"]``: the study side of one trial."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    study_name: str
    gan: str
    search: str = "optuna"  # optuna | grid
    trial_index: int | None = None  # the k of the run name "<gan> #k" (None outside a study sweep)
    loss_every: int = DEFAULT_LOSS_EVERY
    flush_every: int = DEFAULT_FLUSH_EVERY
    metric: str | None = None  # the metric the study optimises (None: the dataset's primary metric)
    mode: str | None = None  # "min" | "max" of that metric (None: resolved from the run config)
    rank: dict = field(default_factory=dict)  # RankRule.to_dict(): which evaluation ranks the trial
    objectives: list = field(default_factory=list)  # a Pareto search: every [metric, mode] Optuna gets ([] otherwise)
    repeat_of: str | None = None  # search.repeats: the trial id whose configuration this one repeats
    scheduler: str = "asha"  # asha | pbt | pb2 | none

    @classmethod
    def from_dict(cls, study: dict) -> "TrialStudy":
        fields = dataclasses.fields(cls)
        names = [f.name for f in fields]
        unknown = sorted(set(study) - set(names))
        if unknown:
            raise ValueError(f"trial config: study.{unknown[0]}: unknown key; accepted keys are {', '.join(names)}")
        missing = [f.name for f in fields if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in study]
        if missing:
            raise ValueError(f"trial config: study.{missing[0]}: missing")
        out = cls(**study)
        if out.search not in SEARCH_KINDS:
            raise ValueError(f"trial config: study.search = {out.search!r}: accepted values are "
                             f"{', '.join(SEARCH_KINDS)}")
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def rank_rule(self) -> RankRule:
        return RankRule(**self.rank)


@dataclass(frozen=True)
class TrialSpec:
    """A trial: its study side, the GAN's base run config and the searched point (flat keys)."""

    study: TrialStudy
    run: dict
    point: dict

    @classmethod
    def from_config(cls, config: dict) -> "TrialSpec":
        """Read Tune's trial config (the only place the dict is taken apart)."""
        point = {k: v for k, v in config.items() if k not in ("run", "study", "grid_point")}
        point.update(config.get("grid_point") or {})
        return cls(TrialStudy.from_dict(config["study"]), config["run"], point)

    def to_config(self) -> dict:
        """The trial config Tune would hand over for this spec (Optuna layout: flat searched keys)."""
        if self.study.search == "grid":
            return {"run": self.run, "study": self.study.to_dict(), "grid_point": dict(self.point)}
        return {"run": self.run, "study": self.study.to_dict(), **self.point}

    def run_config(self) -> dict:
        """The nested run config of the trial: the searched point (flat keys) merged over the base.

        An Optuna study's base comes without the keys the GAN's space owns (the driver drops them,
        ``search_spaces.trial_base``), so a conditional parameter that is off falls back to its
        default; a grid study's base is whole (axes the grid does not touch keep their values)."""
        return apply_point(self.run, self.point)
