"""Which evaluation of a trial ranks it: one rule shared by the loop (``best.pt``) and the
leaderboard (the ranked value), so the registered generator is exactly the ranked checkpoint.

``rank_by`` (study file: ``search.rank_by``):
  - ``best``: the best evaluation at step >= ``after`` (the first step reaching it);
  - ``final``: the last evaluation;
  - ``last_k_mean``: the mean of the last ``k`` evaluations (the checkpoint is the last one):
    a smoothed value for metrics that fluctuate between evaluations.
Evaluations before step ``after`` never rank (default 1: step 0, the untrained generator, is
never a trial's result; studies set it to the first ASHA rung so every ranked generator has
trained at least that long).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainables import metric_names as M

RANK_RULES = ("best", "final", "last_k_mean")


def better(a: float, b: float, mode: str) -> bool:
    """Is ``a`` strictly better than ``b`` for a metric of ``mode`` ("max" | "min")?"""
    return a > b if mode == "max" else a < b


@dataclass(frozen=True)
class RankRule:
    by: str = "best"  # best | final | last_k_mean
    k: int = 3  # evaluations averaged by last_k_mean
    after: int = 1  # evaluations at earlier steps never rank

    def __post_init__(self) -> None:
        if self.by not in RANK_RULES:
            raise ValueError(f"rank_by = {self.by!r}: accepted values are {', '.join(RANK_RULES)}")
        if not (isinstance(self.k, int) and self.k >= 1):
            raise ValueError(f"rank_k = {self.k!r}: must be an integer >= 1")
        if not (isinstance(self.after, int) and self.after >= 0):
            raise ValueError(f"rank_after = {self.after!r}: must be an integer >= 0")

    def select(self, history, mode: str) -> tuple[int, float] | None:
        """(step of the ranked checkpoint, ranked value) from ``[(step, value), ...]``;
        None when no finite evaluation at step >= ``after`` exists."""
        points = sorted((int(s), float(v)) for s, v in history if s >= self.after and math.isfinite(v))
        if not points:
            return None
        if self.by == "final":
            return points[-1]
        if self.by == "last_k_mean":
            tail = points[-self.k:]
            return tail[-1][0], sum(v for _, v in tail) / len(tail)
        best = points[0]
        for point in points[1:]:
            if better(point[1], best[1], mode):
                best = point
        return best

    def is_new_checkpoint(self, step: int, value: float, best_value: float | None, mode: str) -> bool:
        """Does the evaluation at ``step`` become the trial's ranked checkpoint (``best.pt``)?"""
        if step < self.after or value is None or not math.isfinite(value):
            return False
        if self.by != "best" or best_value is None:
            return True
        return better(value, best_value, mode)

    def ranked(self, evaluations: list[dict], metric: str, mode: str) -> dict | None:
        """The ranked checkpoint of a list of evaluation dicts (each holding ``step`` and
        ``metric``): the evaluation at the selected step, with ``metric`` replaced by the ranked
        value (which differs for ``last_k_mean``); None when none can rank."""
        history = [(m["step"], m[metric]) for m in evaluations if metric in m]
        chosen = self.select(history, mode)
        if chosen is None:
            return None
        at = next(m for m in reversed(evaluations) if m["step"] == chosen[0])
        return {**at, metric: chosen[1]}

    def ranked_metrics(self, evaluations: list[dict], metric: str, mode: str) -> dict:
        """A run's ranked checkpoint so far as MLflow metrics: ``best/<m>`` for each evaluation
        metric at the ranked step (``best/<metric>`` = the ranked value), ``best/step``, and
        ``trained/steps`` / ``trained/evals`` (progress); only the latter two before any ranks."""
        out = {M.TRAINED_STEPS: evaluations[-1][M.STEP], M.TRAINED_EVALS: len(evaluations)}
        ranked = self.ranked(evaluations, metric, mode)
        if ranked is not None:
            out.update({M.best_of(k): v for k, v in ranked.items() if k != M.STEP})
            out[M.BEST_STEP] = ranked[M.STEP]
        return out

    def to_dict(self) -> dict:
        return {"by": self.by, "k": self.k, "after": self.after}
