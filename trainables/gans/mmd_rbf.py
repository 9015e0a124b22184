"""MMD-GAN baseline with a mixture of 5 Gaussian kernels (spec section 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from trainables import losses as L
from trainables.gans.axes import suggest_optim
from trainables.gans.base import GanSpec, MMDMixture
from trainables.gans.presets import MMD_PRESETS


@dataclass(frozen=True)
class MMDRBF(MMDMixture):
    """MMD-rbf: sum of Gaussians, sigma in {1, sqrt2, 2, 2sqrt2, 4}."""

    d_fn: ClassVar = staticmethod(L.mmd_rbf_d_loss)
    g_fn: ClassVar = staticmethod(L.mmd_rbf_g_loss)


GAN = GanSpec(
    name="mmd_rbf", objective=MMDRBF, paper="mmd_repulsive.txt", metric_learning=False,
    description="MMD-GAN baseline: attractive loss, mixture of 5 Gaussian kernels",
    space=suggest_optim, presets=MMD_PRESETS,  # the kernels define the baseline: only TTUR is searched
)
