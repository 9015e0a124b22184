"""Repulsive MMD-GAN (spec section 5, mmd_repulsive.txt): L_D(lambda) with the bounded RBF kernel."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainables import losses as L
from trainables.gans.axes import log_float, suggest_optim
from trainables.gans.base import GanSpec, Objective, fakes, require
from trainables.gans.presets import MMD_PRESETS
from trainables.schema import deep_merge


@dataclass(frozen=True)
class MMDRepulsive(Objective):
    """L_D = lam E_xx - (lam - 1) E_xy - E_yy, optionally with the bounded RBF kernel; L_G = MMD^2.

    lam = 1 is the paper's MMD-rep (eq. 5), lam = -1 the attractive MMD-rbf with one Gaussian.
    ``b_l``/``b_u`` only exist when ``bounded`` (MMD-rep-b, the default).
    """

    lam: float = 1.0  # repulsion weight; the paper sweeps {-1, -0.5, 0, 0.5, 1, 2}
    sigma: float = 1.0  # Gaussian kernel bandwidth
    bounded: bool = True  # RBF-B kernel in the D loss (MMD-rep-b)
    b_l: float = 0.25  # lower bound on squared distances (bounded only)
    b_u: float = 4.0  # upper bound on squared distances (bounded only)
    embed_dim: int = 16  # K

    def __post_init__(self) -> None:
        super().__post_init__()
        require(math.isfinite(self.lam), "lam", self.lam, "must be a finite number")
        require(self.sigma > 0, "sigma", self.sigma, "must be > 0")
        require(self.b_l > 0, "b_l", self.b_l, "must be > 0")
        require(self.b_l < self.b_u, "b_l", self.b_l, f"must be < b_u ({self.b_u})")

    @property
    def bounds(self):
        return (self.b_l, self.b_u) if self.bounded else None

    def d_loss(self, nets, draw):
        x, y = draw.real(), fakes(nets, draw)
        return L.mmd_d_loss(nets["D"](x), nets["D"](y), self.lam, sigma=self.sigma, bounds=self.bounds)

    def g_loss(self, nets, draw):
        x, y = draw.real(), fakes(nets, draw, detach=False)
        return L.mmd_g_loss(nets["D"](x), nets["D"](y), sigma=self.sigma)


LAM_RANGE = (-1.0, 2.0)  # uniform repulsion weight; the paper sweeps {-1, -0.5, 0, 0.5, 1, 2}
SIGMA_RANGE = (0.5, 2.0)  # log-uniform Gaussian bandwidth; default 1
BOUNDED = (True, False)  # RBF-B kernel in the D loss (True = MMD-rep-b, the default)
B_L_RANGE = (0.05, 1.0)  # log-uniform lower bound on fake-fake squared distances; default 0.25
B_U_RANGE = (2.0, 64.0)  # log-uniform upper bound on real-real squared distances; default 4


def space(trial, family: str) -> dict:
    """``hparams.lam`` ~ U[-1, 2], ``hparams.sigma`` log-uniform on [0.5, 2],
    ``hparams.bounded`` in {True, False}; only when bounded: ``hparams.b_l`` log-uniform on
    [0.05, 1] and ``hparams.b_u`` log-uniform on [2, 64]. The two ranges are disjoint, so
    b_l < b_u holds by construction while each bound keeps its own Optuna parameter named by
    its config key (the bounds act on different pairs, fake-fake and real-real, so they are
    independent axes rather than a ratio). Plus the shared TTUR axes."""
    out = suggest_optim(trial, family)
    out["hparams.lam"] = trial.suggest_float("hparams.lam", *LAM_RANGE)
    out["hparams.sigma"] = log_float(trial, "hparams.sigma", SIGMA_RANGE)
    bounded = trial.suggest_categorical("hparams.bounded", BOUNDED)
    out["hparams.bounded"] = bounded
    if bounded:
        out["hparams.b_l"] = log_float(trial, "hparams.b_l", B_L_RANGE)
        out["hparams.b_u"] = log_float(trial, "hparams.b_u", B_U_RANGE)
    return out


GAN = GanSpec(
    name="mmd_rep", objective=MMDRepulsive, paper="mmd_repulsive.txt", metric_learning=True,
    description="Repulsive MMD-GAN: L_D(lambda) with the bounded RBF kernel (MMD-rep-b)",
    space=space,
    # Toy: TTUR as in the paper's grid (its D learning rate above G's), D at 6e-4 with G at the family's
    # 1e-4: with the generator EMA, grid25 at 5k steps 25 modes with >= 20 HQ points, 55% HQ (seed 0),
    # against 23 / 47% with 1e-4 for both (benchmarks/results/ema_toy.md).
    presets=deep_merge(MMD_PRESETS, {"toy": {"optim": {"lr_d": 6e-4}}}),
)
