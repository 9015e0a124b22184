"""Search space shared by the baselines (MMD-rbf, MMD-rq, non-saturating, hinge, WGAN-GP)."""

from __future__ import annotations

from search_spaces.common import log_float, suggest_optim

GP_WEIGHT_RANGE = (1.0, 100.0)  # log-uniform WGAN-GP penalty weight; default 10


def _wgan_gp(trial) -> dict:
    return {"hparams.gp_weight": log_float(trial, "hparams.gp_weight", GP_WEIGHT_RANGE)}


# The baselines this module serves -> their extra (non-optimiser) axes.
EXTRA_AXES = {
    "mmd_rbf": lambda trial: {},
    "mmd_rq": lambda trial: {},
    "nsgan": lambda trial: {},
    "hinge": lambda trial: {},
    "wgan_gp": _wgan_gp,
}


def space(trial, gan: str, family: str) -> dict:
    """Define-by-run space of a baseline GAN: the shared TTUR axes, plus
    ``hparams.gp_weight`` (log-uniform [1, 100]) for ``wgan_gp``. Kernels, n_critic and the
    losses themselves are fixed (they define the baseline).

    Raises ValueError when ``gan`` is not one of :data:`EXTRA_AXES`.
    """
    extra = EXTRA_AXES.get(gan)
    if extra is None:
        raise ValueError(f"gan = {gan!r}: baselines.space serves {', '.join(EXTRA_AXES)}")
    return {**suggest_optim(trial, family), **extra(trial)}
