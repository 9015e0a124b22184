"""Means over the off-diagonal entries i != j of a square matrix, without boolean indexing.

``m[mask]`` has a data-dependent size, so on CUDA it runs ``nonzero`` and the host waits for the
device (3 to 12 waits per training step before this module, counted by ``benchmarks/gpu.py``).
Zeroing the diagonal with ``masked_fill`` keeps the shape static: no wait, and the diagonal gets
a zero gradient exactly as with indexing.
"""

from __future__ import annotations

import torch


def diagonal_mask(n: int, device: torch.device) -> torch.Tensor:
    """(n, n) bool mask, True on the diagonal."""
    return torch.eye(n, dtype=torch.bool, device=device)


def mean_off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """``1/(n(n-1)) sum_{i != j} m[i, j]`` of a square ``(n, n)`` matrix, n >= 2."""
    n = m.shape[0]
    return m.masked_fill(diagonal_mask(n, m.device), 0.0).sum() / (n * (n - 1))
