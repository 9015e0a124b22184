"""The study file's schema: its sections as typed dataclasses, the study's derived settings (budget,
rungs, paths, rank rule) as properties of :class:`StudyFile`, and the keys of the older layout.

Parsing is :mod:`study.study_file`, the checks across keys :mod:`study.study_checks`, the
``--smoke-test`` budget :mod:`study.study_smoke`.

Everything is checked here, before Ray starts: unknown keys and wrong types are
:class:`StudyError` naming the dotted field (``scheduler.grace_period``, ``run.optim.lr_x``),
and every GAN's base run config and its first point (the paper defaults, or every grid point)
are resolved with the training loop's own validation. Relative paths (``storage_path``,
``run.data.root``, ``run.eval.cache_dir`` / ``weights_path``) are relative to the current working
directory and stored absolute (trials run in temporary directories).

``[run]`` is the run config of ``trainables.config`` under its own names (the keys
``python -m trainables.train --set`` takes), so a setting has one name everywhere; only ``gan``
comes from ``gans`` and ``hparams`` holds one mapping per GAN. Unset keys take the defaults of the
GAN and its data family. Files written before this layout keep working: ``[dataset]`` is read as
``[run.data]``, ``budget.max_steps`` as ``run.steps`` and ``budget.eval_every`` as
``run.eval.every`` (errors then name the key as written).

Layout (every section and key optional except ``name``)::

    name = "quickstart"
    gan_modules = ["my_pkg.my_gan"]   # GANs defined outside trainables/gans (importable on every node)
    gans = ["metric_learning"]        # registered names; "metric_learning" = all five seeds
    storage_path = "./studies"        # the study lives in <storage_path>/<name>/ (or s3://, gs://)
    local_path = "./studies"          # with a URI storage_path: the driver's state/optuna.db/leaderboard
    ray_address = "local"             # local | auto | ray://host:port | host:port
    max_concurrent = 2                # trials running at once, all GANs together (default: what the cluster holds)
    max_failures = 1                  # retries of a crashed trial (from its last checkpoint)
    [run]       steps (a full-budget trial), seed, device
    [run.data]  name, mixture (name = "mixture": {kind = ring|grid|means, ...}), root, download,
                batch_size, image_size, num_workers, max_items
    [run.eval]  every (evaluation and Tune report interval), num_samples, extractor, ...
    [run.ema]   halflife_kimg (generator EMA half-life, thousands of images; 0 = off), rampup, bn_stats
    [run.perf]  amp (none | bf16), channels_last (conv nets), compile (torch.compile of G and D)
    [run.net], [run.optim], [run.hparams.<gan>]
    [search]    samples_per_gan, sampler (tpe|random), seed, grid (name or {key = [values]}),
                metric (toy default eval/fit, images eval/fid), metrics (>= 2: a Pareto search),
                rank_by (best|final|last_k_mean),
                rank_k, rank_after (default: the first ASHA rung), repeats (new seeds for each of
                the top_k configurations of every GAN, after the search; default 0), top_k
    [scheduler] type (asha|pbt|pb2|none), grace_period, reduction_factor, max_t (steps);
                pbt / pb2: perturbation_interval (steps), quantile_fraction; pbt: resample_probability
    [resources] cpu, gpu (per trial; fractions allowed)
    [mlflow]    tracking_uri, experiment, loss_every, flush_every, register_model
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import search_spaces
from search_spaces import grids
from trainables.config import DATA_FAMILIES, DataConfig, EvalConfig, RunConfig, flatten
from trainables.ranking import RankRule
from trainables.registry import PLUGIN_MODULES
from trainables.schema import bound


METRIC_LEARNING = "metric_learning"  # shorthand in `gans` for every metric-learning GAN
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # study names (dir + MLflow)
RUN_SECTIONS = ("net", "optim", "eval", "ema", "perf")  # base-run sections applied to every GAN


class StudyError(ValueError):
    """A one-line error about the study file, naming the field (dotted path)."""


@dataclass(frozen=True)
class RunSection:
    """Every trial's run config under the run config's own names (``trainables.config``); keys
    left out take the GAN's and the data family's defaults."""

    steps: int | None = field(default=None, metadata=bound(ge=1))  # iterations of a full-budget trial
    seed: int = 0  # seed of every trial (nets, data, noise): trials differ by hyperparameters only
    device: str = "auto"  # auto | cpu | cuda[:i] (auto = CUDA when the trial was given a GPU)
    data: dict = field(default_factory=dict)  # DataConfig: name, mixture, root, batch_size, ...
    net: dict = field(default_factory=dict)  # NetConfig overrides for every GAN
    optim: dict = field(default_factory=dict)  # OptimConfig overrides (searched keys still win)
    eval: dict = field(default_factory=dict)  # EvalConfig: every (evaluation + Tune report interval), ...
    ema: dict = field(default_factory=dict)  # EmaConfig: halflife_kimg (0 = off), rampup, bn_stats (copy | standing)
    perf: dict = field(default_factory=dict)  # PerfConfig: amp (none | bf16), channels_last, compile
    hparams: dict = field(default_factory=dict)  # {gan: {hparam: value}} per-GAN overrides


@dataclass(frozen=True)
class SearchSection:
    samples_per_gan: int | None = field(default=None, metadata=bound(gt=0))  # trials per GAN (default 8); not with `grid`
    sampler: Literal["tpe", "random"] = "tpe"  # Optuna sampler
    seed: int = 0  # sampler seed (a parallel study is still not bit-reproducible)
    grid: Any = None  # a named grid (search_spaces.grids.GRIDS) or {dotted key: [values]}
    metric: str | None = None  # metric to optimise (default: the dataset's primary, eval/fit or eval/fid)
    metrics: list[str] | None = None  # >= 2 metrics: a Pareto search (Optuna multi-objective); the first ranks, stops, saves best.pt
    rank_by: Literal["best", "final", "last_k_mean"] = "best"  # which evaluation ranks a trial
    rank_k: int = field(default=3, metadata=bound(ge=1))  # evaluations averaged by rank_by = "last_k_mean"
    rank_after: int | None = field(default=None, metadata=bound(ge=0))  # earlier evaluations never rank (default: first rung)
    repeats: int = field(default=0, metadata=bound(ge=0))  # after the search: new seeds per top_k configuration of each GAN
    top_k: int = field(default=1, metadata=bound(ge=1))  # configurations of each GAN that `repeats` retrains
    storage: str | None = None  # Optuna's database (SQLAlchemy URL: postgresql://, mysql://, sqlite:///); default sqlite:///<study dir>/optuna.db


@dataclass(frozen=True)
class SchedulerSection:
    # ASHA early stopping, Population Based Training (random explore), PB2 (explore by a GP bandit
    # over the continuous bounds; Parker-Holder et al. 2020), or FIFO
    type: Literal["asha", "pbt", "pb2", "none"] = "asha"
    grace_period: int | None = field(default=None, metadata=bound(gt=0))  # steps before a trial can be stopped (default: run.eval.every)
    reduction_factor: float = field(default=3.0, metadata=bound(gt=1))  # ASHA keeps the top 1/reduction_factor at each rung
    max_t: int | None = None  # steps of a full trial for ASHA (default: run.steps)
    perturbation_interval: int | None = field(default=None, metadata=bound(gt=0))  # pbt: steps between exploit/explore (default: 2 x run.eval.every)
    quantile_fraction: float = field(default=0.25, metadata=bound(gt=0, le=0.5))  # pbt: the bottom fraction copies the top fraction
    resample_probability: float = field(default=0.25, metadata=bound(ge=0, le=1))  # pbt: a perturbed value is redrawn from its range (else x0.8 / x1.2)


@dataclass(frozen=True)
class ResourcesSection:
    cpu: float = field(default=1.0, metadata=bound(gt=0))  # CPUs per trial (also torch's thread count)
    gpu: float = field(default=0.0, metadata=bound(ge=0))  # GPUs per trial (0.25 = four trials share one device)


@dataclass(frozen=True)
class MlflowSection:
    tracking_uri: str | None = None  # default sqlite:///<study dir>/mlflow.db
    experiment: str | None = None  # experiment name (default: the study name)
    loss_every: int = field(default=1, metadata=bound(ge=1))  # log the losses of every n-th step
    flush_every: int = field(default=50, metadata=bound(ge=1))  # steps between two log_batch calls of the losses
    register_model: bool = True  # register the study's best generator under the study name


@dataclass(frozen=True)
class StudyFile:
    name: str
    gans: tuple = ()
    gan_modules: tuple = ()  # modules defining GANs outside trainables/gans (each exposes GAN = GanSpec(...))
    run: RunSection = field(default_factory=RunSection)
    search: SearchSection = field(default_factory=SearchSection)
    scheduler: SchedulerSection = field(default_factory=SchedulerSection)
    resources: ResourcesSection = field(default_factory=ResourcesSection)
    mlflow: MlflowSection = field(default_factory=MlflowSection)
    storage_path: str = "./studies"  # parent folder of the study directory, or a URI (s3://, gs://)
    local_path: str = "./studies"  # driver-side study folder's parent when storage_path is a URI
    ray_address: str = "local"  # local | auto | ray://host:port | host:port
    max_concurrent: int | None = field(default=None, metadata=bound(ge=1))  # trials at once, all GANs together; None: as many as the cluster's nodes hold
    max_failures: int = field(default=1, metadata=bound(ge=0))  # retries of a crashed trial

    # -- derived ------------------------------------------------------------------------------
    @property
    def data(self) -> dict:
        """The study's ``run.data`` (dataset settings, as given)."""
        return self.run.data

    @property
    def dataset_name(self) -> str:
        return self.run.data.get("name", DataConfig.name)

    @property
    def max_steps(self) -> int:
        """Steps of a full-budget trial: ``run.steps`` or the run config's default."""
        return self.run.steps if self.run.steps is not None else RunConfig.steps

    @property
    def eval_every(self) -> int:
        """Evaluation (and Tune report) interval: ``run.eval.every`` or the run config's default."""
        return self.run.eval.get("every", EvalConfig.every)

    @property
    def family(self) -> str:
        return DATA_FAMILIES[self.dataset_name]

    @property
    def remote_storage(self) -> bool:
        """True when ``storage_path`` is a URI (Tune writes trials and checkpoints there; the
        driver keeps the state file, ``optuna.db`` and the leaderboard under ``local_path``)."""
        return is_uri(self.storage_path)

    @property
    def study_dir(self) -> Path:
        """The driver's study directory (state file, optuna.db, leaderboard, sqlite MLflow)."""
        return Path(self.local_path if self.remote_storage else self.storage_path) / self.name

    @property
    def tune_storage(self) -> str:
        """Where Tune keeps the sweeps (``<tune_storage>/<gan>/``): the study directory, or
        ``<storage_path URI>/<name>`` (any node can restore a trial's checkpoints from there)."""
        if self.remote_storage:
            return f"{self.storage_path.rstrip('/')}/{self.name}"
        return str(self.study_dir.resolve())

    @property
    def tracking_uri(self) -> str:
        return self.mlflow.tracking_uri or f"sqlite:///{self.study_dir.resolve()}/mlflow.db"

    @property
    def experiment_name(self) -> str:
        return self.mlflow.experiment or self.name

    @property
    def samples(self) -> int:
        return self.search.samples_per_gan or 8  # default trials per GAN

    @property
    def grace_period(self) -> int:
        return self.scheduler.grace_period or self.eval_every

    @property
    def max_t(self) -> int:
        return self.scheduler.max_t or self.max_steps

    def optuna_searched(self, gan: str) -> bool:
        """Does ``gan`` have an Optuna study (``<study>-<gan>`` in ``optuna.db``)? Not for a grid
        or a PBT population (drawn once, no searcher)."""
        return not self.population_based and self.grid_points(gan) is None

    @property
    def population_based(self) -> bool:
        """PBT or PB2: a population per GAN whose members copy and perturb each other."""
        return self.scheduler.type in ("pbt", "pb2")

    @property
    def perturbation_interval(self) -> int:
        """PBT's exploit/explore interval in steps (a multiple of the evaluation interval: a
        trial can only be copied at a reported checkpoint)."""
        return self.scheduler.perturbation_interval or 2 * self.eval_every

    @property
    def asha_rungs(self) -> list[int]:
        """ASHA's milestones: grace_period * reduction_factor^k below max_t."""
        rungs, t = [], float(self.grace_period)
        while t < self.max_t:
            rungs.append(int(t))
            t *= self.scheduler.reduction_factor
        return rungs

    @property
    def optuna_storage(self) -> str:
        """The Optuna RDB storage URL of the study's searches (``<study>-<gan>`` each):
        ``search.storage``, else ``sqlite:///<study dir>/optuna.db``."""
        return self.search.storage or f"sqlite:///{self.study_dir.resolve()}/optuna.db"

    def pinned(self, gan: str) -> dict:
        """``{key: value}``: the keys of ``gan``'s search space that the study file's ``[run]``
        sets (e.g. ``run.ema.halflife_kimg = 10``): fixed in every trial, not searched."""
        owned = search_spaces.space_params(gan, self.family)
        return {k: v for k, v in flatten(self.base_run(gan)).items() if k in owned}

    def default_point(self, gan: str) -> dict:
        """The first point of ``gan``'s search: its defaults on the study's family with the
        study's nets (``run.net.arch``) and its :meth:`pinned` values, as a point of its space."""
        return search_spaces.default_point(gan, self.family, self.run.net.get("arch"), self.pinned(gan))

    @functools.cached_property
    def objective(self) -> tuple[str, str]:
        """(metric, mode) the study optimises: ``search.metric``, the first of ``search.metrics``,
        or the dataset's primary metric (one dataset per study, so the same for every GAN);
        resolved once per study. It ranks trials, drives ASHA and picks ``best.pt``."""
        from trainables.config import resolve_config
        from trainables.evaluation import optimised_metric

        first = self.search.metrics[0] if self.search.metrics else self.search.metric
        return optimised_metric(resolve_config(self.base_run(self.gans[0])), first)

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """[(metric, mode)] of a Pareto search (``search.metrics``, each metric's own direction),
        else ``[objective]``."""
        from trainables.metric_names import mode_of

        return [(m, mode_of(m)) for m in self.search.metrics] if self.search.metrics else [self.objective]

    @property
    def pareto(self) -> bool:
        """True for a multi-objective search (``search.metrics``)."""
        return len(self.objectives) > 1

    def rank_rule(self):
        """The trials' :class:`~trainables.ranking.RankRule`: ``search.rank_by`` / ``rank_k``, and
        ``rank_after`` defaulting to the first ASHA rung (the grace period; with no scheduler, the
        first evaluation after step 0): an untrained generator never ranks."""
        after = self.search.rank_after
        if after is None:
            after = self.grace_period if self.scheduler.type == "asha" else 1
        return RankRule(by=self.search.rank_by, k=self.search.rank_k, after=after)

    def to_dict(self) -> dict:
        """Plain nested dict (every default filled in); ``parse_study(to_dict())`` gives it back."""
        out = dataclasses.asdict(self)
        out["gans"] = list(self.gans)
        out["gan_modules"] = list(self.gan_modules)
        return out

    def base_run(self, gan: str) -> dict:
        """The nested base run config of ``gan`` (before its searched point is applied)."""
        run = self.run
        config = {"gan": gan, "data": {**run.data, "name": self.dataset_name}, "steps": self.max_steps,
                  "seed": run.seed, "device": run.device, "net": dict(run.net), "optim": dict(run.optim),
                  "eval": {**run.eval, "every": self.eval_every}, "ema": dict(run.ema),
                  "perf": dict(run.perf), "hparams": dict(run.hparams.get(gan, {}))}
        if gan in PLUGIN_MODULES:  # self-describing: the trial, its checkpoints and config.json name it
            config["gan_module"] = PLUGIN_MODULES[gan]
        if "num_workers" not in run.data:  # the main process keeps one of the trial's CPUs
            config["data"]["num_workers"] = max(0, int(self.resources.cpu) - 1)
        if config["device"] == "auto" and self.resources.gpu == 0:
            config["device"] = "cpu"  # a trial without a GPU share must not grab a visible one
        return config

    def grid_points(self, gan: str) -> list[dict] | None:
        """The grid of ``gan`` (list of flat points) or None for an Optuna search."""
        grid = self.search.grid
        if grid is None:
            return None
        if isinstance(grid, str):
            return grids.get_grid(grid, gan)
        return grids.expand_grid(dict(grid))



URI_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # s3://bucket/x, gs://bucket/x, ...


def is_uri(path: str) -> bool:
    return bool(URI_PATTERN.match(path))



# Keys of the layout before [run] held the whole run config: old name -> the run config's name.
LEGACY_KEYS = {"dataset": "run.data", "budget.max_steps": "run.steps", "budget.eval_every": "run.eval.every"}


def legacy_layout(doc: dict) -> tuple[dict, dict]:
    """``doc`` with ``[dataset]`` / ``[budget]`` moved under ``[run]`` (see the module docstring),
    and ``{new name: old name}`` of what moved (errors name a key as the user wrote it)."""
    if "dataset" not in doc and "budget" not in doc:
        return doc, {}
    doc, renamed = dict(doc), {}
    run = doc.get("run", {})
    if not isinstance(run, dict):
        return doc, {}  # let validation report `run`
    run = dict(run)
    if "dataset" in doc:
        if "data" in run:
            raise StudyError("dataset: also given as run.data; keep one ([dataset] is the old name of [run.data])")
        run["data"] = doc.pop("dataset")
        renamed["run.data"] = "dataset"
    budget = doc.pop("budget", None)
    if budget is not None:
        if not isinstance(budget, dict):
            raise StudyError(f"budget: expected a mapping, got {type(budget).__name__}")
        for key, value in budget.items():
            target = LEGACY_KEYS.get(f"budget.{key}")
            if target is None:
                raise StudyError(f"budget.{key}: unknown key; accepted keys are max_steps, eval_every "
                                 f"(now run.steps, run.eval.every)")
            section, _, name = target[len("run."):].rpartition(".")
            holder = run if not section else run.setdefault(section, {})
            if not isinstance(holder, dict) or name in holder:
                raise StudyError(f"budget.{key}: also given as {target}; keep one ({target} is its name now)")
            holder[name] = value
            renamed[target] = f"budget.{key}"
    doc["run"] = run
    return doc, renamed


def _as_written(message: str, renamed: dict) -> str:
    """``message`` naming a moved key by the name the user wrote (``run.data.x`` -> ``dataset.x``)."""
    for new, old in sorted(renamed.items(), key=lambda kv: -len(kv[0])):
        if message == new or message.startswith((new + ".", new + " ", new + ":")):
            return old + message[len(new):]
    return message
