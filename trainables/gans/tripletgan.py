"""TripletGAN (spec section 1, tripletgan.txt): critic on the sphere, triplets (y_i, y_j, x_i)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from trainables import losses as L
from trainables.gans.axes import suggest_optim
from trainables.gans.base import GanSpec, Objective, fakes, require
from trainables.gans.presets import SNDCGAN_MNIST_LR


MARGIN_RANGE = (0.05, 3.0)  # uniform c in (0, pi); defaults 0.5 toy, 1.0 MNIST, 1.6 images
DISTANCES = ("arc", "l2")  # arc length (the paper's, max pi) or chordal L2 (max 2)


@dataclass(frozen=True)
class TripletGAN(Objective):
    """Critic on the sphere S^{K-1}; triplets (y_i, y_j, x_i), i != j."""

    margin: float = 0.5  # c in L_D = mean relu(c - d(x_i, y_i) + d(y_i, y_j))
    distance: str = "arc"  # arc (arccos, the paper's) | l2
    embed_dim: int = 16  # K; 16 toy/MNIST/CelebA, 64 CIFAR-10, 128 STL-10

    normalize_embedding: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.margin >= 0, "margin", self.margin, "must be >= 0")
        require(self.distance in DISTANCES, "distance", self.distance, f"accepted values are {', '.join(DISTANCES)}")

    def d_loss(self, nets, draw):
        x, y = draw.real(), fakes(nets, draw)
        return L.triplet_d_loss(nets["D"](x), nets["D"](y), self.margin, distance=self.distance)

    def g_loss(self, nets, draw):
        x, y = draw.real(), fakes(nets, draw, detach=False)
        return L.triplet_g_loss(nets["D"](x), nets["D"](y), distance=self.distance)


def space(trial, family: str) -> dict:
    """``hparams.margin`` ~ U[0.05, 3.0] (inside (0, pi), the arc distance's range; with ``l2``
    margins above 2 always bind, which the search may discover), ``hparams.distance`` in
    {arc, l2}, plus the shared TTUR axes."""
    out = suggest_optim(trial, family)
    out["hparams.margin"] = trial.suggest_float("hparams.margin", *MARGIN_RANGE)
    out["hparams.distance"] = trial.suggest_categorical("hparams.distance", DISTANCES)
    return out


GAN = GanSpec(
    name="tripletgan", objective=TripletGAN, paper="tripletgan.txt", metric_learning=True,
    description="TripletGAN: triplet loss on the sphere, margin c, arc or L2 distance",
    space=space,
    presets={
        # Toy: D at 3e-4 with G at the family's 1e-4 (TTUR) and the generator EMA: grid25 at 5k steps
        # 19 modes with >= 20 HQ points, 39% HQ (seed 0), against 18 / 36% with 1e-4 for both
        # (benchmarks/results/ema_toy.md).
        "toy": {"optim": {"lr_d": 3e-4}},
        "mnist": {"hparams": {"margin": 1.0}},
        # The SN-DCGAN at width 1/8 learns faster than the MLPs' 5e-4 allows (SNDCGAN_MNIST_LR).
        "mnist/sndcgan": {"optim": SNDCGAN_MNIST_LR["tripletgan"]},
        "image32": {"hparams": {"margin": 1.6, "embed_dim": 64}, "data": {"batch_size": 256}},
        "image48": {"hparams": {"margin": 1.6, "embed_dim": 128}, "optim": {"lr_d": 1e-4, "lr_g": 2e-4}},
        "image64": {"hparams": {"margin": 1.6, "embed_dim": 16}, "optim": {"lr_d": 1e-4, "lr_g": 1e-4}},
    },
)
