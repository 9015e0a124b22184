"""Fully connected networks: a generic MLP, MLP generators/critics (toy 2-D and MNIST)."""

from __future__ import annotations

import math
from functools import partial
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from .heads import SphereProjection, check_embed_dim
from .spectral import spectral_norm

# Leaky ReLU slope 0.2 (Radford et al.'s DCGAN value; TripletGAN B.2 does not give one).
LEAKY_SLOPE = 0.2

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": partial(nn.LeakyReLU, LEAKY_SLOPE),
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
}

Hidden = Union[int, Sequence[int]]

# Normalisation after each hidden Linear (before its activation). "batch": BatchNorm1d over the
# batch of the call, as in the DCGAN nets of MLGAN and MBGAN (each D call normalises its own
# batch: real and fake batches separately, like Radford et al.'s code).
NORMS = ("none", "batch")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from :data:`ACTIVATIONS` by name."""
    if name not in ACTIVATIONS:
        raise ValueError(f"act = {name!r}: expected one of {', '.join(map(repr, ACTIVATIONS))}")
    return ACTIVATIONS[name]()


def _widths(hidden: Hidden, depth: Optional[int]) -> Tuple[int, ...]:
    """Hidden widths: ``[hidden] * depth`` for an int, or the sequence itself (then ``depth``
    must be None or its length)."""
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth = {depth!r}: expected an int >= 0 when hidden is an int")
        widths = (hidden,) * depth
    else:
        widths = tuple(hidden)
        if depth is not None and depth != len(widths):
            raise ValueError(f"depth = {depth!r}: must be None or len(hidden) = {len(widths)}")
    if not all(isinstance(w, int) and w >= 1 for w in widths):
        raise ValueError(f"hidden = {hidden!r}: widths must be ints >= 1")
    return widths


class MLP(nn.Module):
    """``in_dim -> [Linear -> act] x depth -> Linear -> out_dim [-> out_act]``.

    ``hidden`` is one width repeated ``depth`` times, or a sequence of widths (``depth`` then
    None or its length). ``act`` / ``out_act`` are names from :data:`ACTIVATIONS`
    (``out_act=None``: linear output). ``sn`` ("none" | "pim" | "pico") is applied to every
    Linear layer (PICO equals PIM on linear layers). ``norm`` (:data:`NORMS`) follows every hidden
    Linear. Input ``(n, in_dim)``, output ``(n, out_dim)``.
    """

    def __init__(self, in_dim: int, hidden: Hidden,
                 depth: Optional[int] = None,  # None only when hidden is a sequence of widths
                 act: str = "relu",  # GN-GAN's hidden activation
                 out_dim: int = 1,  # a scalar score
                 sn: str = "none",  # no spectral normalisation
                 out_act: Optional[str] = None,  # linear output
                 norm: str = "none"):  # no normalisation of the hidden layers
        super().__init__()
        widths = _widths(hidden, depth)
        if norm not in NORMS:
            raise ValueError(f"norm = {norm!r}: expected one of {', '.join(map(repr, NORMS))}")
        check_embed_dim(out_dim, "out_dim")
        layers = []
        previous = in_dim
        for width in widths:
            layers.append(spectral_norm(nn.Linear(previous, width), sn))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(width))
            layers.append(make_activation(act))
            previous = width
        layers.append(spectral_norm(nn.Linear(previous, out_dim), sn))
        if out_act is not None:
            layers.append(make_activation(out_act))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _check_shape(data_shape: Sequence[int]) -> Tuple[int, ...]:
    if (not isinstance(data_shape, (tuple, list, torch.Size)) or len(data_shape) == 0
            or not all(isinstance(s, int) and s >= 1 for s in data_shape)):
        raise ValueError(f"data_shape = {data_shape!r}: expected a non-empty tuple of positive ints")
    return tuple(int(s) for s in data_shape)


class MLPGenerator(nn.Module):
    """``z (n, z_dim) -> MLP -> reshape to (n, *data_shape)`` (linear output unless ``out_act``).

    Toy TripletGAN (B.1): hidden 128, depth 3, tanh, linear out. GN-GAN toy (Table 1): hidden 64,
    depth 2, ReLU, linear out (the paper's "sigmoid for output layers" is read as applying to D
    only: the data are not in [0, 1]). MNIST (B.2): hidden (256, 512, 1024), leaky ReLU, tanh out.
    """

    def __init__(self, z_dim: int, data_shape: Sequence[int], hidden: Hidden,
                 depth: Optional[int] = None,  # None only when hidden is a sequence of widths
                 act: str = "relu",  # GN-GAN's hidden activation
                 out_act: Optional[str] = None,  # linear output
                 norm: str = "none"):  # no normalisation of the hidden layers
        super().__init__()
        check_embed_dim(z_dim, "z_dim")
        self.data_shape = _check_shape(data_shape)
        self.mlp = MLP(z_dim, hidden, depth, act, int(math.prod(self.data_shape)), "none", out_act,
                       norm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z).reshape(z.shape[0], *self.data_shape)


class MLPCritic(nn.Module):
    """``x (n, *data_shape) -> flatten -> MLP -> (n, embed_dim)`` [-> unit sphere].

    The last linear layer is the embedding head (width ``embed_dim = K``; K = 1 for classic
    losses, where the output is a logit: the loss applies any sigmoid). ``normalize`` projects
    each row onto S^{K-1}. ``sn`` is applied to every Linear layer. Also used as the encoder
    (``embed_dim = z_dim``, no normalisation, no SN).
    """

    def __init__(self, data_shape: Sequence[int], embed_dim: int, hidden: Hidden,
                 depth: Optional[int] = None,  # None only when hidden is a sequence of widths
                 act: str = "relu",  # GN-GAN's hidden activation
                 normalize: bool = False,  # raw embedding / logit
                 sn: str = "none",  # no spectral normalisation
                 norm: str = "none"):  # no normalisation of the hidden layers
        super().__init__()
        check_embed_dim(embed_dim)
        self.data_shape = _check_shape(data_shape)
        self.mlp = MLP(int(math.prod(self.data_shape)), hidden, depth, act, embed_dim, sn,
                       norm=norm)
        self.project = SphereProjection() if normalize else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.mlp(x.reshape(x.shape[0], -1)))
