"""Distances between embeddings (rows of ``(n, K)`` tensors) and between flattened samples.

Paired functions compare row i of ``a`` with row i of ``b`` and return ``(n,)``; pairwise
functions return the ``(n, m)`` matrix over all rows of ``a`` against all rows of ``b``.
"""

import torch

from trainables.precision import full_precision

# Cosines are clamped to [-1 + ARC_EPS, 1 - ARC_EPS] so d/dc arccos(c) stays finite.
ARC_EPS = 1e-6


@full_precision
def pairwise_sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared L2 distances ``D[i, j] = ||a_i - b_j||^2`` for all pairs, shape ``(n, m)``.

    Non-batch dimensions are flattened, so this also works on image batches. Computed as
    ``|a_i|^2 + |b_j|^2 - 2 <a_i, b_j>`` (no ``(n, m, d)`` intermediate, so it scales to images)
    and clamped at 0 against round-off.
    """
    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    a2 = a.pow(2).sum(dim=1)
    b2 = b.pow(2).sum(dim=1)
    return (a2[:, None] + b2[None, :] - 2.0 * (a @ b.transpose(0, 1))).clamp_min(0.0)


@full_precision
def pairwise_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L2 distances ``D[i, j] = ||a_i - b_j||`` for embeddings ``(n, K)``, ``(m, K)``.

    Uses the explicit ``(n, m, K)`` difference and ``vector_norm``, whose gradient at a zero
    distance is 0 (not NaN), so coincident points (e.g. collapsed fakes) are safe.
    """
    return torch.linalg.vector_norm(a[:, None, :] - b[None, :, :], dim=-1)


@full_precision
def paired_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``d_i = ||a_i - b_i||`` (rows paired by index, non-batch dims flattened), shape ``(n,)``.

    The gradient at a zero distance is 0 (``vector_norm``'s subgradient).
    """
    return torch.linalg.vector_norm((a - b).reshape(a.shape[0], -1), dim=1)


@full_precision
def pairwise_arc(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Arc length on the unit sphere ``D[i, j] = arccos(clamp(<a_i, b_j>, -1+eps, 1-eps))``.

    Inputs are expected to be L2-normalised already (the TripletGAN critic normalises); they
    are not renormalised here.
    """
    cos = a @ b.transpose(0, 1)
    return torch.arccos(cos.clamp(-1.0 + ARC_EPS, 1.0 - ARC_EPS))


@full_precision
def paired_arc(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``d_i = arccos(clamp(<a_i, b_i>, -1+eps, 1-eps))`` for unit rows paired by index."""
    cos = (a * b).sum(dim=1)
    return torch.arccos(cos.clamp(-1.0 + ARC_EPS, 1.0 - ARC_EPS))


# name -> (paired distance, pairwise distance) for embedding losses that take `distance=`.
DISTANCES = {
    "arc": (paired_arc, pairwise_arc),
    "l2": (paired_l2, pairwise_l2),
}
