"""PacGAN's 2-D mixture networks (Lin et al. 2018, appendix "Experiments on 2D mixtures").

PacGAN (and VEEGAN before it) use, for ring8 / grid25:
  - G: z in R^2 -> 4 x FC400 ReLU with batch normalisation -> linear to the data dimension;
  - D: 3 x FC200 maxout layers with 5 pieces -> linear to the score.
With Adam(1e-4, beta1 0.5) and batch 100 these nets learn both mixtures on a CPU in a few
thousand steps, where the papers' own tiny MLPs (TripletGAN B.1, GN-GAN Table 1) barely move.
Here D's last layer is the embedding head of width ``embed_dim`` (1 for the classic losses).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn

from .heads import SphereProjection, check_embed_dim
from .spectral import spectral_norm


class Maxout(nn.Module):
    """``x -> max_k (W_k x + b_k)`` over ``pieces`` affine maps (Goodfellow et al. 2013)."""

    def __init__(self, in_dim: int, width: int, pieces: int, sn: str = "none"):
        super().__init__()
        if not (isinstance(pieces, int) and pieces >= 1):
            raise ValueError(f"pieces = {pieces!r}: expected an int >= 1")
        self.width, self.pieces = width, pieces
        self.linear = spectral_norm(nn.Linear(in_dim, width * pieces), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.width, self.pieces).amax(dim=-1)


class PacGANGenerator(nn.Module):
    """``z -> [Linear -> BatchNorm -> ReLU] x depth -> Linear -> (n, *data_shape)``."""

    def __init__(self, z_dim: int, data_shape: Sequence[int], hidden: int = 400, depth: int = 4):
        super().__init__()
        check_embed_dim(z_dim, "z_dim")
        self.data_shape = tuple(int(s) for s in data_shape)
        layers, previous = [], z_dim
        for _ in range(depth):
            layers += [nn.Linear(previous, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            previous = hidden
        layers.append(nn.Linear(previous, int(math.prod(self.data_shape))))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(z.shape[0], *self.data_shape)


class MaxoutCritic(nn.Module):
    """``x -> flatten -> Maxout(width, pieces) x depth -> Linear to embed_dim`` [-> unit sphere].

    ``sn`` is applied to every linear map (the maxout pieces and the head). Also the GN-GAN
    encoder (``embed_dim = z_dim``, no normalisation, no SN).
    """

    def __init__(self, data_shape: Sequence[int], embed_dim: int, hidden: int = 200, depth: int = 3,
                 pieces: int = 5, normalize: bool = False, sn: str = "none"):
        super().__init__()
        check_embed_dim(embed_dim)
        layers, previous = [], int(math.prod(data_shape))
        for _ in range(depth):
            layers.append(Maxout(previous, hidden, pieces, sn))
            previous = hidden
        layers.append(spectral_norm(nn.Linear(previous, embed_dim), sn))
        self.net = nn.Sequential(*layers)
        self.project = SphereProjection() if normalize else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.net(x.reshape(x.shape[0], -1)))
