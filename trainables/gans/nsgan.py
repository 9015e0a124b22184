"""Non-saturating GAN baseline (spec section 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from trainables import losses as L
from trainables.gans.axes import suggest_optim
from trainables.gans.base import GanSpec, ScalarGAN
from trainables.gans.presets import IMAGE_ADAM


@dataclass(frozen=True)
class NonSaturating(ScalarGAN):
    """L_D = softplus(-D(x)) + softplus(D(G(z))), L_G = softplus(-D(G(z)))."""

    d_fn: ClassVar = staticmethod(L.nsgan_d_loss)
    g_fn: ClassVar = staticmethod(L.nsgan_g_loss)


GAN = GanSpec(
    name="nsgan", objective=NonSaturating, paper="(baseline)", metric_learning=False,
    description="Non-saturating GAN (softplus losses)",
    space=suggest_optim, presets={"images": IMAGE_ADAM},  # the loss has no hyperparameter: TTUR only
)
