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
    # The paper's z ~ U(0,1)^100 belongs to its DCGAN image nets; on the toy MLPs it leaves the
    # generator unable to reach the modes, so toy runs keep the family's N(0, I_2).
    # Toy: the margin alpha * mean|x_j - G(z)| scales with the data's spread; grid25 spans +-4
    # (images +-1), and alpha = 20 never moves the generator there (fit 0.04 at 1k steps) while
    # alpha = 2 learns (0.10 at 2k).
    # MNIST (TripletGAN's MLPs, the family's nets): with z ~ U(0,1)^100 the generator never leaves
    # one digit (class entropy 0.000 at 1k-5k steps, alpha 20 or 200); with a normal prior it
    # spreads over the classes: 1.60 ± 0.27 at 5k steps with N(0, I_100), 1.36 ± 0.11 with the
    # MLPs' N(0, I_128) (3 seeds, benchmarks/results/mnist_class_balance.md). The uniform prior
    # stays for the DCGAN image nets. Tried on MNIST (seed 0, class entropy of 2,000 digits; the
    # defaults give 1.43 / 0.71 / 0.50 at 3k steps over seeds 0-2): BatchNorm in D as in the
    # paper's DCGAN nets (net.kwargs.d_norm = "batch") 0.000 at 2k; the paper's Adam(2e-4) with
    # batch 128 0.70; alpha 200 0.000; TTUR lr_g 1e-3 0.12 at 3k; two G steps per D step 0.14 at
    # 3k. None beats the defaults with MLPs. The paper's nets are DCGAN-like convolutions: with the
    # 32x32 DCGAN-style nets (``sndcgan`` with spectral norm off) and N(0, I_100) it spreads over
    # the classes: 2.058 / 2.021 / 1.829 at 5k steps for seeds 0-2 with alpha 20 (width 1/8,
    # batch 64); seed 2 stalls on one output for 2k steps (entropy 0.000 at 1k and 2k). The
    # paper's stable end alpha = 200 leaves that stall sooner (seed 2: 0.56 at 1k vs 0.00) and
    # gives 2.094 / 2.062 / 1.779 with a lower domain FID on every seed (128.9 / 155.8 / 341.9 vs
    # 130.4 / 166.9 / 358.4; benchmarks/results/mnist_class_balance.md), so MNIST uses it.
    # Tried on seed 2: the paper's Adam(2e-4), 1.46 at 3k, no better; alpha 2 still 0.000 at 1k.
    # Batch 128 is the paper's.
    # Tried against seed 2's stall (class entropy of 2,000 digits: 0.000 / 0.809 / 1.748 / 1.774 at
    # 0.5k / 1k / 1.5k / 2k steps). Not better: z ~ U(0,1), width 1/4, batch 128, K = 5000, Adam
    # 1e-4, TTUR 4e-4 / 1e-4. MBGAN's own nets (``dcgan64`` 32x32 at width 1/8, BatchNorm in D as
    # in Table 2) leave it (1.975 at 2k) but stall seeds 0 and 1 instead (0.307 / 0.504 at 2k,
    # FID ~1,100 vs ~330). Two G steps per D step (``optim.n_gen = 2``, as the common DCGAN code
    # does, carpedm20/DCGAN-tensorflow, MLGAN's code base) leave it at once: 0.864 / 1.552 at
    # 0.5k / 1k, but at 5k steps over seeds 0-2 (10,000 digits, as in mnist_class_balance.md)
    # they give 2.019 / 2.076 / 1.822 (1.972 ± 0.133): no better than one G step (2.094 / 2.062 /
    # 1.779, 1.978 ± 0.173) at 1.5x the cost, so MNIST keeps one G step.
    # The cause of the stall: D's embedding has no scale control (the paper's D has BatchNorm, the
    # sndcgan D here had neither BN nor SN). On seed 2 the embedding norms grow to ~5,000 within
    # 400 steps (seed 0: 100-400) while d(x_i, G(z)) stays ~300-400 > h, so the hinge is zero on
    # most D steps and the fakes' pixel spread across the batch falls 0.15 -> 0.02 (one output).
    # Spectral norm in D (the ``sndcgan`` nets are SN-DCGAN's, Miyato et al. Table S1) bounds the
    # embedding's scale, so h ~ 50-160 binds: at 5k steps over seeds 0-2 class entropy 2.232 /
    # 2.246 / 2.262 (2.247 ± 0.015) and domain FID 93.1 / 74.6 / 76.0 vs 1.978 ± 0.173 and 208.8
    # without it (benchmarks/results/mnist_class_balance.md); alpha 20 with SN stalls seed 2 again
    # (0.000 at 1k steps). So MNIST uses SN (power iteration) with alpha 200.
    presets={"toy": {"hparams": {"alpha": 2.0}},
             "images": deep_merge(IMAGE_ADAM, {"data": {"batch_size": 128},
                                               "net": {"z_dim": 100, "z_dist": "uniform01"}}),
             "mnist": {"data": {"batch_size": 128}, "hparams": {"alpha": 200.0},
                       "net": deep_merge(DCGAN_MNIST, {"z_dim": 100, "z_dist": "normal", "sn": "pim"})},
             "mnist/sndcgan": {"optim": SNDCGAN_MNIST_LR["mbgan"]}},
)
