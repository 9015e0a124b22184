"""Repulsive MMD-GAN search space (spec sections 5 and 7): lambda, sigma, kernel bounds."""

from __future__ import annotations

from search_spaces.common import log_float, suggest_optim

LAM_RANGE = (-1.0, 2.0)  # uniform repulsion weight; the paper sweeps {-1, -0.5, 0, 0.5, 1, 2}
SIGMA_RANGE = (0.5, 2.0)  # log-uniform Gaussian bandwidth; default 1
BOUNDED = (True, False)  # RBF-B kernel in the D loss (True = MMD-rep-b, the default)
B_L_RANGE = (0.05, 1.0)  # log-uniform lower bound on fake-fake squared distances; default 0.25
B_U_RANGE = (2.0, 64.0)  # log-uniform upper bound on real-real squared distances; default 4


def space(trial, gan: str, family: str) -> dict:
    """Define-by-run space of the repulsive MMD-GAN.

    ``hparams.lam`` ~ U[-1, 2], ``hparams.sigma`` log-uniform on [0.5, 2],
    ``hparams.bounded`` in {True, False}; only when bounded: ``hparams.b_l`` log-uniform on
    [0.05, 1] and ``hparams.b_u`` log-uniform on [2, 64]. The two ranges are disjoint, so
    b_l < b_u holds by construction while each bound keeps its own Optuna parameter named by
    its config key (the bounds act on different pairs, fake-fake and real-real, so they are
    independent axes rather than a ratio). Plus the shared TTUR axes. ``gan`` is unused.
    """
    out = suggest_optim(trial, family)
    out["hparams.lam"] = trial.suggest_float("hparams.lam", *LAM_RANGE)
    out["hparams.sigma"] = log_float(trial, "hparams.sigma", SIGMA_RANGE)
    bounded = trial.suggest_categorical("hparams.bounded", BOUNDED)
    out["hparams.bounded"] = bounded
    if bounded:
        out["hparams.b_l"] = log_float(trial, "hparams.b_l", B_L_RANGE)
        out["hparams.b_u"] = log_float(trial, "hparams.b_u", B_U_RANGE)
    return out
