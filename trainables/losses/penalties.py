"""Gradient penalty (WGAN-GP, GN-GAN eqs 7-8's ``V_P``)."""

import torch

from trainables.precision import full_precision

from ._checks import check_batch, check_paired, check_scores


@full_precision
def gradient_penalty(critic_fn, real: torch.Tensor, fake: torch.Tensor,
                     u: torch.Tensor = None) -> torch.Tensor:
    """``V_P = mean_i ( ||grad_xhat critic(xhat_i)|| - 1 )^2``, ``xhat_i = u_i x_i + (1-u_i) fake_i``.

    ``critic_fn`` maps a batch ``(n, ...)`` to one score per sample (``(n,)`` or ``(n, 1)``) and
    must treat samples independently (no BatchNorm in training mode). ``u ~ U[0, 1]`` per sample,
    drawn with ``torch.rand`` on ``real``'s device when ``u`` is None; an explicit ``u`` of shape
    ``(n,)`` with values in [0, 1] may be given (tests). ``real`` and ``fake`` are detached (the
    penalty trains the critic only); ``create_graph=True`` so it backpropagates into the
    critic's parameters. Norms are over all non-batch elements.
    """
    check_batch("real", real)
    check_batch("fake", fake)
    check_paired("real", real, "fake", fake)
    n = real.shape[0]
    if u is None:
        u = torch.rand(n, device=real.device, dtype=real.dtype)
    elif not isinstance(u, torch.Tensor) or u.shape != (n,):
        raise ValueError(f"u must be None or a tensor of shape ({n},), got {getattr(u, 'shape', u)!r}")
    elif bool(((u < 0) | (u > 1)).any()):
        raise ValueError("u must have values in [0, 1]")
    u = u.to(device=real.device, dtype=real.dtype).reshape(n, *([1] * (real.dim() - 1)))
    xhat = (u * real.detach() + (1.0 - u) * fake.detach()).requires_grad_(True)
    scores = check_scores("critic_fn(xhat)", critic_fn(xhat))
    if scores.shape[0] != n:
        raise ValueError(f"critic_fn must return one score per sample: got {scores.shape[0]} for n={n}")
    (grads,) = torch.autograd.grad(scores.sum(), xhat, create_graph=True)
    norms = torch.linalg.vector_norm(grads.reshape(n, -1), dim=1)
    return (norms - 1.0).pow(2).mean()
