"""The one metrics table: every metric the platform logs, with its direction, family and label.

Each metric's key is defined here once (MLflow accepts '/' in names) and read by the loop
(``trainables.evaluation``), the Ray trainable and ASHA (``mode``), the study file's
``search.metric`` check, the leaderboard and the reports (``label``). ``measure`` is the key the
measuring function returns (``trainables.metrics.toy.mode_stats``, ``trainables.metrics.fid``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

LOSS_D = "loss/d"  # discriminator / critic loss of the last D step
LOSS_G = "loss/g"  # generator loss of the last G step
LOSS_AE = "loss/ae"  # GN-GAN auto-encoder loss of the last AE step

EVAL_MODES = "eval/modes"  # toy mixtures: modes with >= 1 high-quality point
EVAL_MODES_20 = "eval/modes_20"  # toy mixtures: modes with >= 20 high-quality points
EVAL_HQ = "eval/hq"  # toy mixtures: fraction of high-quality points
EVAL_KL = "eval/kl"  # toy mixtures: KL(mode histogram || uniform)
EVAL_JSD = "eval/jsd"  # toy mixtures: JSD(mode histogram, uniform)
EVAL_FIT = "eval/fit"  # toy mixtures: 1 - TV(generated, true mixture) on the mode cells (primary)

EVAL_FID = "eval/fid"  # images: Frechet distance (Inception or domain features)
EVAL_KID = "eval/kid"  # images: kernel inception distance (mean)
EVAL_IS = "eval/is"  # images: inception score (mean)
EVAL_CLASS_ENTROPY = "eval/class_entropy"  # MNIST: entropy of predicted-class histogram
EVAL_CLASS_L2 = "eval/class_l2"  # MNIST: L2 distance of that histogram to uniform
EVAL_PRECISION = "eval/precision"  # improved precision, k = 3 (features; toy: the 2D points)
EVAL_RECALL = "eval/recall"  # improved recall, k = 3 (trainables.metrics.prc)

STEP = "step"  # training iteration at which a result was measured

# With a generator EMA (run.ema) every evaluation measures the averaged generator under the keys
# above, and the raw (trained) generator's optimised metric beside it: "eval_raw/<name>"
# (eval_raw/fit, eval_raw/fid), so a study shows what averaging buys.
RAW_PREFIX = "eval_raw/"

# A trial's ranked checkpoint so far, logged at every evaluation (MLflow's latest value of each is
# what its runs table sorts and groups by): "best/<metric>" for every evaluation metric at the
# ranked step (the ranked value itself for the optimised one), plus these three.
BEST_PREFIX = "best/"  # best/eval/fit, best/eval/modes_20, ...
BEST_STEP = "best/step"  # step of the ranked checkpoint (best.pt)
TRAINED_STEPS = "trained/steps"  # steps trained so far
TRAINED_EVALS = "trained/evals"  # evaluations so far
DIVERGED = "diverged"  # result key (1) of a trial's final report when its losses diverged

TOY, IMAGES = "toy", "images"  # metric families (the data family groups of trainables.config)
BOTH = (TOY, IMAGES)


@dataclass(frozen=True)
class Metric:
    name: str  # the logged key (Ray Tune result, MLflow metric)
    mode: str  # "max" | "min": which direction is better
    families: tuple[str, ...]  # of TOY, IMAGES: the datasets that log it
    label: str  # display name in tables and plots
    measure: str  # the key its measuring function returns
    column: bool = False  # a leaderboard column (value at each GAN's ranked checkpoint)
    # A metric measured by its own function: compute(samples, mixture) -> float, with the
    # evaluation's generated samples (toy: (n, 2) float points and the Mixture; images: uint8
    # (n, C, H, W) and None). None: the family's built-in measures return it under `measure`.
    compute: Callable | None = None


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric(EVAL_FIT, "max", (TOY,), "fit", "fit"),
    Metric(EVAL_MODES, "max", (TOY,), "modes", "modes"),
    Metric(EVAL_MODES_20, "max", (TOY,), "modes_20", "modes_20", column=True),
    Metric(EVAL_HQ, "max", (TOY,), "% HQ", "hq", column=True),
    Metric(EVAL_KL, "min", (TOY,), "KL", "kl", column=True),
    Metric(EVAL_JSD, "min", (TOY,), "JSD", "jsd"),
    Metric(EVAL_FID, "min", (IMAGES,), "FID", "fid", column=True),
    Metric(EVAL_KID, "min", (IMAGES,), "KID", "kid", column=True),
    Metric(EVAL_IS, "max", (IMAGES,), "IS", "is"),
    Metric(EVAL_CLASS_ENTROPY, "max", (IMAGES,), "class entropy", "class_entropy"),
    Metric(EVAL_CLASS_L2, "min", (IMAGES,), "class L2", "class_l2"),
    Metric(EVAL_PRECISION, "max", BOTH, "precision", "precision", column=True),
    Metric(EVAL_RECALL, "max", BOTH, "recall", "recall", column=True),
)}


def register_metric(metric: Metric) -> Metric:
    """Add a metric measured by its own function (``compute``): one row, and every evaluation of
    its families logs it, MLflow gets it (and ``best/<name>``), ``search.metric`` accepts it, and
    with ``column = True`` the leaderboard shows it. Register it in a module every Ray node
    imports (e.g. one named by the study file's ``gan_modules``)."""
    if not metric.name.startswith("eval/") or metric.name in METRICS:
        raise ValueError(f"metric {metric.name!r}: must be a new 'eval/<name>' key")
    if metric.mode not in ("max", "min") or not metric.families or not set(metric.families) <= set(BOTH):
        raise ValueError(f"metric {metric.name!r}: mode must be max | min and families a subset of {BOTH}")
    if metric.compute is None:
        raise ValueError(f"metric {metric.name!r}: a registered metric needs its compute function")
    METRICS[metric.name] = metric
    return metric


def computed(family: str) -> list[Metric]:
    """The metrics of ``family`` measured by their own ``compute`` function."""
    return [m for m in METRICS.values() if family in m.families and m.compute is not None]


def columns(family: str) -> tuple[str, ...]:
    """Leaderboard columns of ``family`` (rows with ``column = True``), table order."""
    return tuple(m.name for m in METRICS.values() if family in m.families and m.column)

PRIMARY = {TOY: EVAL_FIT, IMAGES: EVAL_FID}  # the metric a study optimises unless search.metric says


def best_of(name: str) -> str:
    """``best/<name>``: the value of metric ``name`` at a trial's ranked checkpoint."""
    return BEST_PREFIX + name


def raw_of(name: str) -> str:
    """``eval_raw/<name>`` of an evaluation metric ``eval/<name>``: the raw generator's value."""
    return RAW_PREFIX + name.split("/", 1)[-1]


def mode_of(name: str) -> str:
    """"max" or "min" for a metric of :data:`METRICS` (KeyError names unknown metrics)."""
    return METRICS[name].mode


def metrics_of(family: str) -> dict[str, str]:
    """``{measure key: metric name}`` of a family (:data:`TOY` or :data:`IMAGES`), table order."""
    return {m.measure: m.name for m in METRICS.values() if family in m.families}


def family_of_metric(name: str) -> str:
    """:data:`IMAGES` for a metric only image runs log, else :data:`TOY`."""
    return IMAGES if name in METRICS and TOY not in METRICS[name].families else TOY
