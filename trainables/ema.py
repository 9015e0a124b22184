"""Generator EMA: an exponential moving average of G's weights, the generator every evaluation uses.

Karras et al.'s formulation (StyleGAN2-ADA / EDM ``training_loop.py``), with the half-life in
thousands of images shown to the generator and a ramp-up that caps it early in training::

    halflife_nimg = ema.halflife_kimg * 1000
    if ema.rampup is not None:
        halflife_nimg = min(halflife_nimg, cur_nimg * ema.rampup)
    beta = 0.5 ** (batch_size / max(halflife_nimg, 1e-8))
    p_ema <- lerp(p, p_ema, beta) = beta * p_ema + (1 - beta) * p      (every parameter)
    b_ema <- b                                                         (every buffer: BatchNorm
                                                                        statistics are copied)

With ``ema.bn_stats = "standing"`` the average's BatchNorm statistics are recomputed before it
generates (BigGAN's "standing statistics", Brock et al. 2019): the copied statistics belong to
G's own weights, not to their average, and the mismatch grows with the half-life.
:meth:`GeneratorEMA.standing_stats` resets them and accumulates the plain mean over
``STANDING_BATCHES`` batches of fixed latent codes in training mode (no change to training).

``cur_nimg`` is the number of real images one iteration consumes (``data.batch_size``) times the
iterations done, counted after the iteration's update, as in EDM. ``halflife_kimg = 0`` turns the
average off: the run then evaluates, samples and checkpoints its raw generator (the behaviour
before EMA existed).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


STANDING_BATCHES = 16  # batches of codes the standing statistics average over (BigGAN: 16)
STANDING_SEED = 7  # seed of their latent codes: the same statistics for the same weights


def ema_beta(halflife_kimg: float, rampup: float | None, cur_nimg: int, batch_size: int) -> float:
    """The decay of one update after ``cur_nimg`` images (the formula in the module docstring)."""
    halflife_nimg = halflife_kimg * 1000.0
    if rampup is not None:
        halflife_nimg = min(halflife_nimg, cur_nimg * rampup)
    return 0.5 ** (batch_size / max(halflife_nimg, 1e-8))


class GeneratorEMA:
    """The averaged copy of a generator (``net``: eval mode, no gradients) and its update rule."""

    def __init__(self, generator: nn.Module, halflife_kimg: float, rampup: float | None):
        self.halflife_kimg, self.rampup = halflife_kimg, rampup
        self.net = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module, cur_nimg: int, batch_size: int) -> float:
        """Move the average towards ``generator``; returns the beta used."""
        beta = ema_beta(self.halflife_kimg, self.rampup, cur_nimg, batch_size)
        ema_params, params = list(self.net.parameters()), [p.detach() for p in generator.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)  # p_ema + (1 - beta) (p - p_ema)
        for b_ema, b in zip(self.net.buffers(), generator.buffers()):
            b_ema.copy_(b)
        return beta

    @torch.no_grad()
    def standing_stats(self, sample_z, batch_size: int) -> None:
        """Recompute the average's BatchNorm statistics from ``STANDING_BATCHES`` batches of
        ``sample_z(batch_size, generator)`` codes (fixed seed), as a plain mean over the batches."""
        norms = [m for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: the mean over the batches
        gen = torch.Generator().manual_seed(STANDING_SEED)
        self.net.train()
        try:
            for _ in range(STANDING_BATCHES):
                self.net(sample_z(batch_size, gen))
        finally:
            self.net.eval()
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum

    def state_dict(self) -> dict:
        return self.net.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state)
