"""Mixed precision (``run.perf.amp = "bf16"``): which parts of a step stay in float32, and why.

Under :func:`torch.autocast` with bfloat16, matmuls and convolutions of G and D run in bf16 (8
mantissa bits, float32's range, so no loss scaling). These parts are kept in float32 because bf16
would change what they compute, not just round it:

- **spectral norm** (``trainables.nets.spectral``): the power iteration and ``sigma(W)``; a bf16
  ``sigma`` would be off by ~0.4% and jitter from step to step, moving every SN layer's Lipschitz
  bound (the layer's matmul with ``W / sigma`` itself runs in bf16);
- **distances between embeddings and their kernels** (``trainables.losses.distances``): the
  squared distances are ``|a|^2 + |b|^2 - 2 <a, b>``, a difference of large near-equal terms that
  bf16 would cancel to noise, and the MMD kernels exponentiate them;
- **gradient penalties and gradient matching** (WGAN-GP, GN-GAN): the critic's input gradients
  and their norms, whose target (norm 1) is finer than bf16's resolution near 1 (2^-7).

Losses are returned as float32 whatever the precision inside.
"""

from __future__ import annotations

import functools

import torch

AMP_DTYPES = {"bf16": torch.bfloat16}  # perf.amp values other than "none"


def full_precision(fn):
    """Run ``fn`` with autocast off and every floating tensor argument cast to float32."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        device = _device_of(args)
        if not torch.is_autocast_enabled(device):
            return fn(*args, **kwargs)
        args = tuple(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
        with torch.autocast(device, enabled=False):
            return fn(*args, **kwargs)
    return wrapper


def _device_of(args) -> str:
    for a in args:
        if isinstance(a, torch.Tensor):
            return a.device.type
    return "cpu"


def autocast(device: torch.device, amp: str):
    """The autocast context of a training step (disabled for ``amp = "none"``)."""
    return torch.autocast(device.type, dtype=AMP_DTYPES.get(amp, torch.bfloat16), enabled=amp in AMP_DTYPES)
