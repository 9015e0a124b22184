"""MLGAN (spec section 2, mlgan.txt): intra-class squared L2 vs inter-class L1 embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from trainables import losses as L
from trainables.gans.axes import log_float, suggest_optim
from trainables.gans.base import GanSpec, Objective, fakes, require
from trainables.gans.presets import DCGAN_MNIST, IMAGE_ADAM, SNDCGAN_MNIST_LR


@dataclass(frozen=True)
class MLGAN(Objective):
    """L_D = L_intra - lam L_inter + beta L_center, L_G = L_inter.

    Variants: ``vanilla``; ``clip`` (D's weights clamped to [-clip_value, clip_value] after every
    D step); ``center`` (the center penalty, beta > 0). ``beta`` only exists for ``center``.
    The paper gives no optimiser settings; we use Adam(2e-4, 0.5, 0.999), n_critic 1.
    """

    variant: str = "vanilla"  # vanilla | clip | center
    lam: float = 0.5  # weight of the inter-class L1 term (1 for center)
    beta: float = 0.0  # center-penalty weight (center variant only; paper: 10 or 20)
    clip_value: float = 0.01  # clip variant: weight box of D
    embed_dim: int = 64  # K; 64 vanilla/clip, 5 center
    reduction: str = "mean"  # mean | sum (the paper's sums: L_intra weighs batch - 1 times more)

    variants: ClassVar[dict] = {"vanilla": {}, "clip": {}, "center": {"lam": 1.0, "beta": 10.0, "embed_dim": 5}}

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.lam >= 0, "lam", self.lam, "must be >= 0")
        require(self.beta >= 0, "beta", self.beta, "must be >= 0")
        if self.variant != "center":
            require(self.beta == 0, "beta", self.beta, "only the 'center' variant has a center penalty; use 0")
        require(self.clip_value > 0, "clip_value", self.clip_value, "must be > 0")
        require(self.reduction in L.MLGAN_REDUCTIONS, "reduction", self.reduction,
                f"must be one of {', '.join(L.MLGAN_REDUCTIONS)}")

    def d_loss(self, nets, draw):
        x, y = draw.real(), fakes(nets, draw)
        return L.mlgan_d_loss(nets["D"](x), nets["D"](y), self.lam, beta=self.beta, reduction=self.reduction)

    def g_loss(self, nets, draw):
        x, y = draw.real(), fakes(nets, draw, detach=False)
        return L.mlgan_g_loss(nets["D"](x), nets["D"](y))

    def after_d_step(self, nets) -> None:
        if self.variant == "clip":
            with torch.no_grad():
                for p in nets["D"].parameters():
                    p.clamp_(-self.clip_value, self.clip_value)


LAM_RANGE = (0.05, 5.0)  # log-uniform inter-class weight; defaults 0.5 (vanilla/clip), 1 (center)
BETA_RANGE = (1.0, 50.0)  # log-uniform center-penalty weight (center only); paper 10 or 20
CLIP_RANGE = (1e-3, 0.1)  # log-uniform weight box of D (clip only); paper 0.01

# Parameters that exist only under one variant (conditional axes).
_BY_VARIANT = {
    "vanilla": lambda trial: {},
    "clip": lambda trial: {"hparams.clip_value": log_float(trial, "hparams.clip_value", CLIP_RANGE)},
    "center": lambda trial: {"hparams.beta": log_float(trial, "hparams.beta", BETA_RANGE)},
}


def space(trial, family: str) -> dict:
    """``hparams.variant`` in {vanilla, clip, center}; ``hparams.lam`` log-uniform on [0.05, 5]
    for every variant (one distribution, so TPE shares its history across variants);
    ``hparams.beta`` (log [1, 50]) only when variant == center; ``hparams.clip_value``
    (log [1e-3, 0.1]) only when variant == clip; plus the shared TTUR axes. The variant's other
    defaults (center: K = 5) still apply."""
    out = suggest_optim(trial, family)
    variant = trial.suggest_categorical("hparams.variant", tuple(MLGAN.variants))
    out["hparams.variant"] = variant
    out["hparams.lam"] = log_float(trial, "hparams.lam", LAM_RANGE)
    out.update(_BY_VARIANT[variant](trial))
    return out


GAN = GanSpec(
    name="mlgan", objective=MLGAN, paper="mlgan.txt", metric_learning=True,
    description="MLGAN: intra-class squared L2 vs inter-class L1 embeddings (vanilla/clip/center)",
    space=space,
    # Toy: the center variant (vanilla and clip collapse on grid25). MNIST: the paper's DCGAN-style
    # conv nets (TripletGAN's MLPs stay on one digit), center, beta 20, Adam 1e-4. The runs behind
    # each choice: benchmarks/results/preset_choices.md#mlgan.
    presets={"images": IMAGE_ADAM, "toy": {"hparams": {"variant": "center"}},
             "mnist": {"hparams": {"variant": "center", "beta": 20.0}, "optim": {"lr_d": 1e-4, "lr_g": 1e-4},
                       "data": {"batch_size": 64}, "net": DCGAN_MNIST},
             # SN-DCGAN: spectral norm in D as MBGAN's, K = 64 (the paper's vanilla/clip K) and Adam
             # 8e-4, both better than K = 5 at 4e-4 over three seeds (preset_choices.md#mlgan)
             "mnist/sndcgan": {"optim": SNDCGAN_MNIST_LR["mlgan"], "net": {"sn": "pim"},
                               "hparams": {"embed_dim": 64}}},
)
