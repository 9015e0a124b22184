"""Hinge GAN baseline, SN-GAN's loss (spec section 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from trainables import losses as L
from trainables.gans.axes import suggest_optim
from trainables.gans.base import GanSpec, ScalarGAN
from trainables.gans.presets import IMAGE_ADAM


@dataclass(frozen=True)
class Hinge(ScalarGAN):
    """L_D = relu(1 - D(x)) + relu(1 + D(G(z))), L_G = -D(G(z))."""

    d_fn: ClassVar = staticmethod(L.hinge_d_loss)
    g_fn: ClassVar = staticmethod(L.hinge_g_loss)


GAN = GanSpec(
    name="hinge", objective=Hinge, paper="(baseline)", metric_learning=False,
    description="Hinge GAN (SN-GAN's loss)",
    space=suggest_optim, presets={"images": IMAGE_ADAM},  # the loss has no hyperparameter: TTUR only
)
