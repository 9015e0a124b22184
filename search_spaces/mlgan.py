"""MLGAN search space (spec sections 2 and 7): variant, lambda, conditional beta / clip value."""

from __future__ import annotations

from search_spaces.common import log_float, suggest_optim

VARIANTS = ("vanilla", "clip", "center")  # first = registry default
LAM_RANGE = (0.05, 5.0)  # log-uniform inter-class weight; defaults 0.5 (vanilla/clip), 1 (center)
BETA_RANGE = (1.0, 50.0)  # log-uniform center-penalty weight (center only); paper 10 or 20
CLIP_RANGE = (1e-3, 0.1)  # log-uniform weight box of D (clip only); paper 0.01


def _center(trial) -> dict:
    return {"hparams.beta": log_float(trial, "hparams.beta", BETA_RANGE)}


def _clip(trial) -> dict:
    return {"hparams.clip_value": log_float(trial, "hparams.clip_value", CLIP_RANGE)}


# Parameters that exist only under one variant (conditional axes).
_BY_VARIANT = {"vanilla": lambda trial: {}, "clip": _clip, "center": _center}


def space(trial, gan: str, family: str) -> dict:
    """Define-by-run space of MLGAN.

    ``hparams.variant`` in {vanilla, clip, center}; ``hparams.lam`` log-uniform on [0.05, 5]
    for every variant (one distribution, so TPE shares its history across variants);
    ``hparams.beta`` (log [1, 50]) only when variant == center; ``hparams.clip_value``
    (log [1e-3, 0.1]) only when variant == clip; plus the shared TTUR axes. The variant's other
    registry defaults (center: K = 5) still apply. ``gan`` is unused.
    """
    out = suggest_optim(trial, family)
    variant = trial.suggest_categorical("hparams.variant", VARIANTS)
    out["hparams.variant"] = variant
    out["hparams.lam"] = log_float(trial, "hparams.lam", LAM_RANGE)
    out.update(_BY_VARIANT[variant](trial))
    return out
