"""Embedding heads: the critic's last linear layer to R^K, optionally projected onto S^{K-1}."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .spectral import spectral_norm


def check_embed_dim(embed_dim: int, name: str = "embed_dim") -> int:
    """Return ``embed_dim`` if it is an int >= 1, else raise ValueError naming ``name``."""
    if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1:
        raise ValueError(f"{name} = {embed_dim!r}: expected an int >= 1")
    return embed_dim


class SphereProjection(nn.Module):
    """``e -> e / max(||e||_2, eps)`` row-wise: puts each embedding on the unit sphere S^{K-1}
    (TripletGAN's critic). For K = 1 the output is +-1 (a choice the spec leaves open)."""

    def __init__(self, eps: float = 1e-12):  # eps only guards an exactly-zero embedding
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2.0, dim=1, eps=self.eps)


def embedding_head(in_features: int, embed_dim: int,
                   normalize: bool = False,  # raw embedding / logit
                   sn: str = "none",  # no spectral normalisation
                   n_power_iterations: int = 1) -> nn.Module:  # one step per training forward
    """Linear ``in_features -> embed_dim`` (spectrally normalised when ``sn != "none"``; PICO on a
    linear layer equals PIM), followed by :class:`SphereProjection` when ``normalize``.
    Output shape ``(n, embed_dim)``; ``embed_dim < 1`` raises ValueError."""
    check_embed_dim(embed_dim)
    layers = [spectral_norm(nn.Linear(in_features, embed_dim), sn, n_power_iterations=n_power_iterations)]
    if normalize:
        layers.append(SphereProjection())
    return nn.Sequential(*layers)
