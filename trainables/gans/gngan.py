"""GN-GAN (spec section 4, gngan.txt): neighbour-embedding auto-encoder + gradient matching G."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn

from trainables import losses as L
from trainables.gans.axes import family_group, log_float, suggest_optim
from trainables.gans.base import GanSpec, Objective, fakes, require
from trainables.gans.presets import SNDCGAN_MNIST_LR


@dataclass(frozen=True)
class GNGAN(Objective):
    """Neighbour embedding (AE step) + log/hinge D with gradient penalty + gradient matching G.

    The gradient penalty is taken on D's raw output (the logit) in both versions; the spec
    leaves its score open and this is the WGAN-GP convention. Gradient matching (eq. 13) uses the
    paper's score: sigmoid(logit) for ``log``, the raw logit for ``hinge``.
    """

    variant: str = "log"  # log (eq. 7) | hinge (eq. 8)
    alpha: float = 0.05  # weight of reconstructions G(E(x)) among the "real" side of D
    lambda_r: float = 1.0  # neighbour-embedding weight in the auto-encoder loss
    lambda_p: float = 1.0  # gradient-penalty weight (toy: 0.1)
    lambda_m1: float = 1.0  # gradient-norm matching weight (toy: 0.1)
    lambda_m2: float = 1.0  # gradient-projection matching weight (toy: 0.1)
    embed_dim: int = 1  # D outputs one logit

    needs_encoder: ClassVar[bool] = True
    double_backward: ClassVar[bool] = True  # gradient penalty (and GN-GAN's gradient matching)
    variants: ClassVar[dict] = {"log": {}, "hinge": {}}

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.alpha < 1, "alpha", self.alpha, "must be in [0, 1)")
        for name in ("lambda_r", "lambda_p", "lambda_m1", "lambda_m2"):
            require(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0")
        require(self.embed_dim == 1, "embed_dim", self.embed_dim, "GN-GAN's D outputs one logit: use 1")

    def _decode(self, nets, latent):
        """``G(E(x))`` without moving G's BatchNorm running statistics.

        G's running statistics are what ``G.eval()`` samples from the prior use, so they must
        describe batches of ``G(z)``. Nothing ties the encoder's latents to the prior's scale
        (measured on grid25: E(x) had mean (-6.9, 3.9) and std 4.4 at 1k steps against z ~ N(0, I)),
        so letting reconstructions update them sent the evaluated samples off the modes (mean
        (0.8, -2.0) in eval mode vs (0.05, 0.00) in train mode). The paper's nets have no BatchNorm;
        the batch statistics used in training are unchanged.
        """
        with frozen_batchnorm_statistics(nets["G"]):
            return nets["G"](latent)

    def _logit(self, nets):
        return lambda x: nets["D"](x).reshape(-1)

    def ae_loss(self, nets, draw):
        x = draw.real()
        latent = nets["E"](x)
        z = draw.z(x.shape[0])
        recon = self._decode(nets, latent)
        images = torch.cat([recon, nets["G"](z)])
        return L.gngan_ae_loss(x, recon, torch.cat([latent, z]), images, self.lambda_r)

    def d_loss(self, nets, draw):
        x = draw.real()
        with torch.no_grad():
            recon = self._decode(nets, nets["E"](x))
        fake = fakes(nets, draw)
        logit = self._logit(nets)
        adv = L.gngan_d_loss(logit(x), logit(recon), logit(fake), alpha=self.alpha, kind=self.variant)
        return adv + self.lambda_p * L.gradient_penalty(logit, x, fake)

    def g_loss(self, nets, draw):
        x, fake = draw.real(), fakes(nets, draw, detach=False)
        logit = self._logit(nets)
        score = (lambda v: torch.sigmoid(logit(v))) if self.variant == "log" else logit
        return L.gngan_g_loss(score, x, fake, self.lambda_m1, self.lambda_m2)


@contextlib.contextmanager
def frozen_batchnorm_statistics(net: nn.Module):
    """Inside: ``net``'s BatchNorm layers normalise by the batch (train mode) as usual but leave
    their running mean / variance (and batch count) as they were."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - momentum) * running + momentum * batch: unchanged
    try:
        yield net
    finally:
        for m, (momentum, count) in zip(norms, saved):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


# Log-uniform ranges of the loss weights: about one decade either side of the paper's values
# (toy: lambda_p = lambda_m1 = lambda_m2 = 0.1, lambda_r = 1, the toy defaults; images: all 1).
LAMBDA_RANGES = {
    "toy": {"lambda_r": (0.1, 10.0), "lambda_p": (0.01, 1.0),
            "lambda_m1": (0.01, 1.0), "lambda_m2": (0.01, 1.0)},
    "images": {"lambda_r": (0.1, 10.0), "lambda_p": (0.1, 10.0),
               "lambda_m1": (0.1, 10.0), "lambda_m2": (0.1, 10.0)},
}


def space(trial, family: str) -> dict:
    """``hparams.variant`` in {log, hinge}; ``hparams.lambda_r``, ``lambda_p``, ``lambda_m1``,
    ``lambda_m2`` log-uniform over one decade either side of the family's default
    (:data:`LAMBDA_RANGES`); plus the shared TTUR axes. ``alpha`` (0.05) is not searched."""
    ranges = LAMBDA_RANGES[family_group(family)]
    out = suggest_optim(trial, family)
    out["hparams.variant"] = trial.suggest_categorical("hparams.variant", tuple(GNGAN.variants))
    for name, bounds in ranges.items():
        key = f"hparams.{name}"
        out[key] = log_float(trial, key, bounds)
    return out


GAN = GanSpec(
    name="gngan", objective=GNGAN, paper="gngan.txt", metric_learning=True,
    description="GN-GAN: neighbour-embedding auto-encoder + gradient-matching generator",
    space=space,
    presets={
        # Toy: the paper's Table 1 weights (benchmarks/results/preset_choices.md#gn-gan: what an
        # equal-budget study had found instead, and why it lost).
        "toy": {"hparams": {"lambda_r": 1.0, "lambda_p": 0.1, "lambda_m1": 0.1, "lambda_m2": 0.1}},
        "images": {"optim": {"lr_d": 2e-4, "lr_g": 2e-4, "beta1_d": 0.5, "beta2_d": 0.9,
                             "beta1_g": 0.5, "beta2_g": 0.9}},
        "mnist/sndcgan": {"optim": SNDCGAN_MNIST_LR["gngan"]},
    },
)
