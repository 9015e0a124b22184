"""Input checks shared by the loss functions: each raises ValueError naming the argument."""

import math

import torch


def check_embeddings(name: str, e: torch.Tensor, min_n: int = 1) -> None:
    """Require a 2-D ``(n, K)`` tensor with ``n >= min_n`` and ``K >= 1``."""
    if not isinstance(e, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (n, K), got {type(e).__name__}")
    if e.dim() != 2:
        raise ValueError(f"{name} must have shape (n, K), got shape {tuple(e.shape)}")
    if e.shape[0] < min_n:
        raise ValueError(f"{name} needs at least {min_n} rows (pairs are formed), got n={e.shape[0]}")
    if e.shape[1] < 1:
        raise ValueError(f"{name} must have K >= 1 columns, got shape {tuple(e.shape)}")


def check_same_k(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Require the same embedding width K."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_b} must have the same K as {name_a}: got {tuple(b.shape)} vs {tuple(a.shape)}"
        )


def check_paired(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Require identical shapes (rows are paired by index)."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} must have the same shape as {name_a} (paired by index): "
            f"got {tuple(b.shape)} vs {tuple(a.shape)}"
        )


def check_scores(name: str, d: torch.Tensor) -> torch.Tensor:
    """Require per-sample scores of shape ``(n,)`` or ``(n, 1)``, n >= 1; return them as ``(n,)``."""
    if not isinstance(d, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (n,) or (n, 1), got {type(d).__name__}")
    if d.dim() == 2 and d.shape[1] == 1:
        d = d[:, 0]
    if d.dim() != 1 or d.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n,) or (n, 1) with n >= 1, got {tuple(d.shape)}")
    return d


def check_batch(name: str, x: torch.Tensor, min_n: int = 1) -> None:
    """Require a batch tensor ``(n, ...)`` with at least one non-batch dimension and n >= min_n."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (n, ...), got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{name} must have shape (n, ...) with at least 2 dims, got {tuple(x.shape)}")
    if x.shape[0] < min_n:
        raise ValueError(f"{name} needs at least {min_n} samples, got n={x.shape[0]}")


def check_number(name: str, value, low: float = -math.inf, high: float = math.inf,
                 low_open: bool = False) -> float:
    """Require a finite real number in ``[low, high]`` (``(low, high]`` if low_open)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    below = v <= low if low_open else v < low
    if below or v > high:
        left = "(" if low_open else "["
        raise ValueError(f"{name} must be in {left}{low}, {high}], got {value!r}")
    return v


def check_choice(name: str, value, choices) -> None:
    """Require ``value`` to be one of ``choices`` (a tuple, or a dict's keys)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
