"""GN-GAN search space (spec sections 4 and 7): D variant and the four loss weights."""

from __future__ import annotations

from search_spaces.common import family_group, log_float, suggest_optim

VARIANTS = ("log", "hinge")  # eq. 7 | eq. 8; first = registry default

# Log-uniform ranges of the loss weights: one decade either side of the family's default
# (toy: lambda_p = lambda_m1 = lambda_m2 = 0.1, lambda_r = 1; images: all 1).
LAMBDA_RANGES = {
    "toy": {"lambda_r": (0.1, 10.0), "lambda_p": (0.01, 1.0),
            "lambda_m1": (0.01, 1.0), "lambda_m2": (0.01, 1.0)},
    "images": {"lambda_r": (0.1, 10.0), "lambda_p": (0.1, 10.0),
               "lambda_m1": (0.1, 10.0), "lambda_m2": (0.1, 10.0)},
}


def space(trial, gan: str, family: str) -> dict:
    """Define-by-run space of GN-GAN.

    ``hparams.variant`` in {log, hinge}; ``hparams.lambda_r``, ``lambda_p``, ``lambda_m1``,
    ``lambda_m2`` log-uniform over one decade either side of the family's default
    (:data:`LAMBDA_RANGES`); plus the shared TTUR axes. ``alpha`` (0.05) is not searched.
    ``gan`` is unused.
    """
    ranges = LAMBDA_RANGES[family_group(family)]
    out = suggest_optim(trial, family)
    out["hparams.variant"] = trial.suggest_categorical("hparams.variant", VARIANTS)
    for name, bounds in ranges.items():
        key = f"hparams.{name}"
        out[key] = log_float(trial, key, bounds)
    return out
