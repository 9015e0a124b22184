"""MMD-GAN baseline with a mixture of 5 rational-quadratic kernels (spec section 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from trainables import losses as L
from trainables.gans.axes import suggest_optim
from trainables.gans.base import GanSpec, MMDMixture
from trainables.gans.presets import MMD_PRESETS


@dataclass(frozen=True)
class MMDRQ(MMDMixture):
    """MMD-rq: sum of rational quadratics, a in {0.2, 0.5, 1, 2, 5}."""

    d_fn: ClassVar = staticmethod(L.mmd_rq_d_loss)
    g_fn: ClassVar = staticmethod(L.mmd_rq_g_loss)


GAN = GanSpec(
    name="mmd_rq", objective=MMDRQ, paper="mmd_repulsive.txt", metric_learning=False,
    description="MMD-GAN baseline: attractive loss, mixture of 5 rational-quadratic kernels",
    space=suggest_optim, presets=MMD_PRESETS,  # the kernels define the baseline: only TTUR is searched
)
