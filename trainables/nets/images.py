"""Convolutional generators and critics: SN-DCGAN (Miyato et al.; mmd_repulsive Table S1) and the
DCGAN-64 of MBGAN (mbgan Tables 1-2). Image tensors are ``(n, C, H, W)`` in [-1, 1]."""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn as nn

from .heads import check_embed_dim, embedding_head
from .spectral import spectral_norm

# Leaky ReLU slope of the SN-DCGAN critic (Miyato et al.'s value, spec section 5).
SNDCGAN_SLOPE = 0.1
# Leaky ReLU slope of the DCGAN-64 nets (Radford et al.'s value; MBGAN does not give one).
DCGAN_SLOPE = 0.2
# Channel widths of the SN-DCGAN generator's three upsampling blocks (Table S1).
SNDCGAN_G_WIDTHS = (256, 128, 64)
# (kernel, stride, out_channels) of the SN-DCGAN critic's convolutions, in order (Table S1).
SNDCGAN_D_LAYERS = ((3, 1, 64), (4, 2, 128), (3, 1, 128), (4, 2, 256), (3, 1, 256), (4, 2, 512), (3, 1, 512))
# Channel widths of the DCGAN-64 generator after the projection, and of the critic (Tables 1-2).
DCGAN_G_WIDTHS = (512, 256, 128, 64)
DCGAN_D_WIDTHS = (64, 128, 256, 512)


def check_image_shape(data_shape: Sequence[int], sizes_ok, requirement: str) -> Tuple[int, int, int]:
    """Return ``(C, H, W)`` if ``data_shape`` is three positive ints and ``sizes_ok(H, W)``."""
    if (not isinstance(data_shape, (tuple, list, torch.Size)) or len(data_shape) != 3
            or not all(isinstance(s, int) and s >= 1 for s in data_shape)
            or not sizes_ok(data_shape[1], data_shape[2])):
        raise ValueError(f"data_shape = {data_shape!r}: expected (C, H, W) with {requirement}")
    return tuple(int(s) for s in data_shape)


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1 (``width`` < 1 thins a net for CPU runs)."""
    return max(1, round(channels * width))


def check_width(width: float) -> float:
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 4:
        raise ValueError(f"width = {width!r}: expected a number in (0, 4] (channel multiplier; 1 = the paper's nets)")
    return float(width)


def _sndcgan_shape(data_shape: Sequence[int]) -> Tuple[int, int, int]:
    return check_image_shape(data_shape, lambda h, w: h % 8 == 0 and w % 8 == 0,
                             "H and W multiples of 8 (32 for CIFAR-10, 48 for STL-10)")


class SNDCGANGenerator(nn.Module):
    """Table S1 (a): ``z -> dense h*w*512 (linear) -> [deconv 4x4 s2 (256, 128, 64), BN, ReLU]
    -> conv 3x3 s1 to C -> tanh``, with ``h = H/8``, ``w = W/8`` (4 for 32x32, 6 for 48x48).

    The dense layer has no BN/activation, as the table writes it ("dense, linear"). ``width``
    multiplies every channel count (1: Table S1).
    """

    def __init__(self, z_dim: int, data_shape: Sequence[int], width: float = 1.0):
        super().__init__()
        check_embed_dim(z_dim, "z_dim")
        width = check_width(width)
        channels, height, wide = _sndcgan_shape(data_shape)
        self.start = (scaled(512, width), height // 8, wide // 8)
        self.project = nn.Linear(z_dim, self.start[0] * self.start[1] * self.start[2])
        layers: List[nn.Module] = []
        previous = self.start[0]
        for out in (scaled(c, width) for c in SNDCGAN_G_WIDTHS):
            layers += [nn.ConvTranspose2d(previous, out, 4, 2, 1), nn.BatchNorm2d(out), nn.ReLU()]
            previous = out
        layers += [nn.Conv2d(previous, channels, 3, 1, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).reshape(z.shape[0], *self.start))


class SNDCGANCritic(nn.Module):
    """Table S1 (b): conv 3x3 s1 64, then (conv 4x4 s2, conv 3x3 s1) at 128, 256, 512, each
    followed by leaky ReLU 0.1, then dense ``h*w*512 -> embed_dim`` (linear) [-> unit sphere].

    ``sn`` ("none" | "pim" | "pico") wraps every conv and the dense layer; for PICO each conv gets
    the input shape it sees for this image size. Output ``(n, embed_dim)``. With ``sn="none"``,
    ``embed_dim = z_dim`` and ``normalize=False`` this is also the GN-GAN image encoder.
    ``width`` multiplies every channel count (1: Table S1).
    """

    def __init__(self, data_shape: Sequence[int], embed_dim: int,
                 normalize: bool = False,  # raw embedding / logit
                 sn: str = "none",  # no spectral normalisation
                 n_power_iterations: int = 1,  # one power-iteration step per training forward
                 width: float = 1.0):  # channel multiplier (Table S1's widths)
        super().__init__()
        check_embed_dim(embed_dim)
        width = check_width(width)
        shape = _sndcgan_shape(data_shape)
        layers: List[nn.Module] = []
        for kernel, stride, out in SNDCGAN_D_LAYERS:
            out = scaled(out, width)
            padding = 1  # 3x3 s1 keeps the size, 4x4 s2 halves it
            conv = nn.Conv2d(shape[0], out, kernel, stride, padding)
            layers += [spectral_norm(conv, sn, input_shape=shape, n_power_iterations=n_power_iterations),
                       nn.LeakyReLU(SNDCGAN_SLOPE)]
            shape = (out, (shape[1] + 2 * padding - kernel) // stride + 1,
                     (shape[2] + 2 * padding - kernel) // stride + 1)
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = embedding_head(shape[0] * shape[1] * shape[2], embed_dim, normalize, sn, n_power_iterations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _dcgan_shape(data_shape: Sequence[int]) -> Tuple[int, int, int]:
    return check_image_shape(data_shape, lambda h, w: (h, w) in ((64, 64), (32, 32)),
                             "H = W = 64 (CelebA) or 32 (CIFAR-10/SVHN variant)")


def dcgan_init_(module: nn.Module) -> nn.Module:
    """Radford et al.'s initialisation in place: conv/linear weights ~ N(0, 0.02), BN weights
    ~ N(1, 0.02), biases 0. Returns ``module``."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
    return module


class DCGAN64Generator(nn.Module):
    """MBGAN Table 1: ``z -> dense 4x4x512, BN, LReLU -> [upconv 5x5 s2 (256, 128, 64), BN,
    LReLU] -> upconv 5x5 s2 to C -> tanh`` for 64x64.

    Choices where the table is loose: its first "5c2s512o UpConv" is read as DCGAN's project-
    and-reshape of z to 4x4x512 (five stride-2 upconvs from 1x1 could not reach 64); the output
    layer has no BN/LReLU before tanh (DCGAN's convention). For 32x32 the last upconv has stride 1
    (the paper's CIFAR-10/SVHN change). Weights use :func:`dcgan_init_`. ``width`` multiplies
    every channel count (1: Table 1).
    """

    def __init__(self, z_dim: int, data_shape: Sequence[int], width: float = 1.0):
        super().__init__()
        check_embed_dim(z_dim, "z_dim")
        width = check_width(width)
        channels, height, _ = _dcgan_shape(data_shape)
        first = scaled(DCGAN_G_WIDTHS[0], width)
        self.project = nn.Sequential(nn.Linear(z_dim, first * 16), nn.Unflatten(1, (first, 4, 4)),
                                     nn.BatchNorm2d(first), nn.LeakyReLU(DCGAN_SLOPE))
        layers: List[nn.Module] = []
        previous = first
        for out in (scaled(w, width) for w in DCGAN_G_WIDTHS[1:]):
            layers += [nn.ConvTranspose2d(previous, out, 5, 2, 2, output_padding=1), nn.BatchNorm2d(out),
                       nn.LeakyReLU(DCGAN_SLOPE)]
            previous = out
        last_stride = 2 if height == 64 else 1
        layers += [nn.ConvTranspose2d(previous, channels, 5, last_stride, 2, output_padding=last_stride - 1),
                   nn.Tanh()]
        self.body = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z))


class DCGAN64Critic(nn.Module):
    """MBGAN Table 2: ``[conv 5x5 s2 (64, 128, 256, 512), BN, LReLU 0.2] -> FC 4*4*512 -> embed_dim``
    [-> unit sphere]. BN also on the first layer, as the table lists it. For 32x32 the first conv
    has stride 1. ``sn`` wraps every conv and the FC layer (PICO with each conv's input shape).
    Weights use :func:`dcgan_init_` (applied before SN warm-up). Output ``(n, embed_dim)``.
    ``width`` multiplies every channel count (1: Table 2).
    """

    def __init__(self, data_shape: Sequence[int], embed_dim: int,
                 normalize: bool = False,  # raw embedding / logit
                 sn: str = "none",  # no spectral normalisation
                 n_power_iterations: int = 1,  # one power-iteration step per training forward
                 width: float = 1.0):  # channel multiplier (Table 2's widths)
        super().__init__()
        check_embed_dim(embed_dim)
        width = check_width(width)
        shape = _dcgan_shape(data_shape)
        layers: List[nn.Module] = []
        for index, out in enumerate(scaled(w, width) for w in DCGAN_D_WIDTHS):
            stride = 1 if (index == 0 and shape[1] == 32) else 2
            conv = dcgan_init_(nn.Conv2d(shape[0], out, 5, stride, 2))
            layers += [spectral_norm(conv, sn, input_shape=shape, n_power_iterations=n_power_iterations),
                       dcgan_init_(nn.BatchNorm2d(out)), nn.LeakyReLU(DCGAN_SLOPE)]
            shape = (out, (shape[1] - 1) // stride + 1, (shape[2] - 1) // stride + 1)
        self.features = nn.Sequential(*layers, nn.Flatten())
        head = embedding_head(shape[0] * shape[1] * shape[2], embed_dim, normalize, "none")
        dcgan_init_(head)
        head[0] = spectral_norm(head[0], sn, n_power_iterations=n_power_iterations)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
