"""MBGAN search space (spec sections 3 and 7): margin scale alpha, TTUR Adam."""

from __future__ import annotations

from search_spaces.common import log_float, suggest_optim

ALPHA_RANGE = (0.2, 200.0)  # log-uniform; paper: {0.2, 2} collapse, {20, 200} stable, default 20


def space(trial, gan: str, family: str) -> dict:
    """Define-by-run space of MBGAN: ``hparams.alpha`` log-uniform on [0.2, 200] (the paper's
    whole ablation range) plus the shared TTUR axes. ``gan`` is unused."""
    out = suggest_optim(trial, family)
    out["hparams.alpha"] = log_float(trial, "hparams.alpha", ALPHA_RANGE)
    return out
