"""MBGAN (spec section 3, mbgan.txt): triplet hinge with a data-dependent margin."""

from __future__ import annotations

from dataclasses import dataclass

from trainables import losses as L
from trainables.schema import deep_merge
from trainables.gans.axes import log_float, suggest_optim
from trainables.gans.base import GanSpec, Objective, fakes, require
from trainables.gans.presets import DCGAN_MNIST, IMAGE_ADAM, SNDCGAN_MNIST_LR


@dataclass(frozen=True)
class MBGAN(Objective):
    """Data-dependent margin h = alpha * mean|x_j - G(z)| (detached).

    A D step draws two independent real batches x_i, x_j; a G step draws one (x_j).
    """

    alpha: float = 20.0  # margin scale; paper: {0.2, 2} collapse, {20, 200} stable
    embed_dim: int = 500  # K; paper: {5, 50} collapse, {500, 5000} fine

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.alpha > 0, "alpha", self.alpha, "must be > 0")

    def d_loss(self, nets, draw):
        x_i, x_j, fake = draw.real(), draw.real(), fakes(nets, draw)
        D = nets["D"]
        return L.mbgan_d_loss(D(x_i), D(x_j), D(fake), x_j, fake, self.alpha)

    def g_loss(self, nets, draw):
        x_j, fake = draw.real(), fakes(nets, draw, detach=False)
        return L.mbgan_g_loss(nets["D"](x_j), nets["D"](fake))


ALPHA_RANGE = (0.2, 200.0)  # log-uniform; paper: {0.2, 2} collapse, {20, 200} stable, default 20


def space(trial, family: str) -> dict:
    """``hparams.alpha`` log-uniform on [0.2, 200] (the paper's whole ablation range) plus the
    shared TTUR axes."""
    out = suggest_optim(trial, family)
    out["hparams.alpha"] = log_float(trial, "hparams.alpha", ALPHA_RANGE)
    return out


GAN = GanSpec(
    name="mbgan", objective=MBGAN, paper="mbgan.txt", metric_learning=True,
    description="MBGAN: triplet hinge with a data-dependent margin alpha*|x_j - G(z)|",
    space=space,
    # Toy: alpha 2 (grid25 spans +-4: alpha 20 never moves G) and the family's N(0, I_2). MNIST: the
    # conv nets with spectral norm in D (bounds the embedding, so the margin binds), alpha 200 (the
    # paper's stable end), N(0, I_100), batch 128 (the paper's). The runs behind each choice:
    # benchmarks/results/preset_choices.md#mbgan.
    presets={"toy": {"hparams": {"alpha": 2.0}},
             "images": deep_merge(IMAGE_ADAM, {"data": {"batch_size": 128},
                                               "net": {"z_dim": 100, "z_dist": "uniform01"}}),
             "mnist": {"data": {"batch_size": 128}, "hparams": {"alpha": 200.0},
                       "net": deep_merge(DCGAN_MNIST, {"z_dim": 100, "z_dist": "normal", "sn": "pim"})},
             "mnist/sndcgan": {"optim": SNDCGAN_MNIST_LR["mbgan"]}},
)
