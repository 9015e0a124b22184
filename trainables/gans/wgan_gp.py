"""WGAN-GP baseline (spec section 6): Wasserstein critic with gradient penalty, n_critic 5."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from trainables import losses as L
from trainables.gans.axes import log_float, suggest_optim
from trainables.gans.base import GanSpec, ScalarGAN, fakes, require


@dataclass(frozen=True)
class WGANGP(ScalarGAN):
    """L_D = D(G(z)) - D(x) + gp_weight (||grad D(xhat)|| - 1)^2, L_G = -D(G(z)); n_critic 5."""

    gp_weight: float = 10.0  # gradient-penalty weight

    d_fn: ClassVar = staticmethod(L.wgan_d_loss)
    g_fn: ClassVar = staticmethod(L.wgan_g_loss)
    double_backward: ClassVar[bool] = True  # the gradient penalty differentiates D's input gradients

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.gp_weight >= 0, "gp_weight", self.gp_weight, "must be >= 0")

    def d_loss(self, nets, draw):
        x, y = draw.real(), fakes(nets, draw)
        critic = lambda v: self.outputs(nets, v)  # noqa: E731
        return L.wgan_d_loss(critic(x), critic(y)) + self.gp_weight * L.gradient_penalty(critic, x, y)


GP_WEIGHT_RANGE = (1.0, 100.0)  # log-uniform WGAN-GP penalty weight; default 10


def space(trial, family: str) -> dict:
    """The shared TTUR axes plus ``hparams.gp_weight`` log-uniform on [1, 100]; n_critic is
    fixed (it defines the baseline)."""
    return {**suggest_optim(trial, family), "hparams.gp_weight": log_float(trial, "hparams.gp_weight", GP_WEIGHT_RANGE)}


GAN = GanSpec(
    name="wgan_gp", objective=WGANGP, paper="(baseline)", metric_learning=False,
    description="WGAN-GP: Wasserstein critic with gradient penalty 10, n_critic 5",
    space=space,
    presets={"*": {"optim": {"n_critic": 5, "lr_d": 1e-4, "lr_g": 1e-4, "beta1_d": 0.5,
                             "beta2_d": 0.9, "beta1_g": 0.5, "beta2_g": 0.9}}},
)
