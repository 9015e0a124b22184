"""MBGAN losses (spec section 3, mbgan.txt eqs 1-6): a hinge with a data-dependent margin."""

import torch

from ._checks import check_batch, check_embeddings, check_number, check_paired
from .distances import paired_l2


def mbgan_margin(x_j: torch.Tensor, fake: torch.Tensor, alpha: float) -> torch.Tensor:
    """Detached margin ``h_i = alpha * mean_{elements} |x_j[i] - fake[i]|``, shape ``(n,)``.

    The spec's per-element mean of the L1 pixel distance (works for 2-D points and images).
    The margin is a target, never a path for gradients: the result is detached.
    """
    check_batch("x_j", x_j)
    check_batch("fake", fake)
    check_paired("x_j", x_j, "fake", fake)
    alpha = check_number("alpha", alpha, low=0.0)
    diff = (x_j.detach() - fake.detach()).abs().reshape(x_j.shape[0], -1)
    return alpha * diff.mean(dim=1)


def mbgan_d_loss(e_xi: torch.Tensor, e_xj: torch.Tensor, e_fake: torch.Tensor,
                 x_j: torch.Tensor, fake: torch.Tensor, alpha: float) -> torch.Tensor:
    """Discriminator loss ``L_D = mean_i relu( h_i + d(x_i, x_j) - d(x_i, G(z)) )``.

    ``e_xi``, ``e_xj``, ``e_fake``: embeddings ``(n, K)`` of two independent real batches and
    the fakes, paired by index (sample i uses x_i[i], x_j[i], G(z_i)). ``d`` = L2 distance of
    embeddings (not squared). ``h_i = alpha * mean |x_j[i] - fake[i]|`` over all non-batch
    elements of the raw samples ``x_j``, ``fake`` (``(n, ...)``), detached. ``alpha >= 0``.
    """
    check_embeddings("e_xi", e_xi)
    check_embeddings("e_xj", e_xj)
    check_embeddings("e_fake", e_fake)
    check_paired("e_xi", e_xi, "e_xj", e_xj)
    check_paired("e_xi", e_xi, "e_fake", e_fake)
    h = mbgan_margin(x_j, fake, alpha)
    if h.shape[0] != e_xi.shape[0]:
        raise ValueError(
            f"x_j must have the same batch size as e_xi: got {x_j.shape[0]} vs {e_xi.shape[0]}")
    return torch.relu(h + paired_l2(e_xi, e_xj) - paired_l2(e_xi, e_fake)).mean()


def mbgan_g_loss(e_xj: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss ``L_G = mean_i d(x_j[i], G(z_i))`` with ``d`` = L2 (not squared)."""
    check_embeddings("e_xj", e_xj)
    check_embeddings("e_fake", e_fake)
    check_paired("e_xj", e_xj, "e_fake", e_fake)
    return paired_l2(e_xj, e_fake).mean()
