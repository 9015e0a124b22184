"""``build_nets``: the generator, critic (and optional encoder) of one architecture by name."""

from __future__ import annotations

import inspect
import math
from typing import Dict, Sequence

import torch.nn as nn

from .heads import check_embed_dim
from .images import DCGAN64Critic, DCGAN64Generator, SNDCGANCritic, SNDCGANGenerator
from .mlp import MLPCritic, MLPGenerator
from .pacgan_toy import MaxoutCritic, PacGANGenerator
from .spectral import SN_METHODS, SpectralNormed


def _toy_triplet(data_shape, z_dim, embed_dim, normalize, sn, with_encoder, *,
                 g_hidden=128,  # TripletGAN B.1: 3 x FC128 tanh, linear to the data dim
                 g_depth=3,
                 g_act="tanh",
                 d_hidden=32,  # TripletGAN B.1: 3 x FC32 tanh, linear to K
                 d_depth=3,
                 d_act="tanh"):
    nets = {"G": MLPGenerator(z_dim, data_shape, g_hidden, g_depth, g_act),
            "D": MLPCritic(data_shape, embed_dim, d_hidden, d_depth, d_act, normalize, sn)}
    if with_encoder:
        nets["E"] = MLPCritic(data_shape, z_dim, d_hidden, d_depth, d_act)
    return nets


def _toy_gngan(data_shape, z_dim, embed_dim, normalize, sn, with_encoder, *,
               hidden=64,  # GN-GAN Table 1: d_h = 64 for E, G and D
               depth=2,  # GN-GAN Table 1: N_h = 2 hidden layers
               act="relu"):  # GN-GAN: ReLU hidden layers
    nets = {"G": MLPGenerator(z_dim, data_shape, hidden, depth, act),
            "D": MLPCritic(data_shape, embed_dim, hidden, depth, act, normalize, sn)}
    if with_encoder:
        nets["E"] = MLPCritic(data_shape, z_dim, hidden, depth, act)
    return nets


def _toy_pacgan(data_shape, z_dim, embed_dim, normalize, sn, with_encoder, *,
                g_hidden=400,  # PacGAN / VEEGAN 2D: G 4 x FC400 ReLU + BatchNorm
                g_depth=4,
                d_hidden=200,  # PacGAN / VEEGAN 2D: D 3 x FC200 maxout, 5 pieces
                d_depth=3,
                pieces=5):
    nets = {"G": PacGANGenerator(z_dim, data_shape, g_hidden, g_depth),
            "D": MaxoutCritic(data_shape, embed_dim, d_hidden, d_depth, pieces, normalize, sn)}
    if with_encoder:
        nets["E"] = MaxoutCritic(data_shape, z_dim, d_hidden, d_depth, pieces)
    return nets


def _mlp_mnist(data_shape, z_dim, embed_dim, normalize, sn, with_encoder, *,
               g_hidden=(256, 512, 1024),  # TripletGAN B.2 generator widths
               d_hidden=(1024, 512, 256),  # TripletGAN B.2 critic widths (the mirror)
               act="leaky_relu",  # TripletGAN B.2: leaky ReLU hidden layers
               g_norm="none",  # TripletGAN B.2 names no normalisation ("batch": BatchNorm1d)
               d_norm="none"):
    nets = {"G": MLPGenerator(z_dim, data_shape, g_hidden, None, act, out_act="tanh", norm=g_norm),
            "D": MLPCritic(data_shape, embed_dim, d_hidden, None, act, normalize, sn, norm=d_norm)}
    if with_encoder:
        nets["E"] = MLPCritic(data_shape, z_dim, d_hidden, None, act)
    return nets


def _sndcgan(data_shape, z_dim, embed_dim, normalize, sn, with_encoder, *,
             n_power_iterations=1,  # Miyato et al.: one power-iteration step per forward
             width=1.0):  # channel multiplier (1: Table S1; 0.25 makes a 32x32 step ~16x cheaper on CPU)
    nets = {"G": SNDCGANGenerator(z_dim, data_shape, width),
            "D": SNDCGANCritic(data_shape, embed_dim, normalize, sn, n_power_iterations, width)}
    if with_encoder:
        nets["E"] = SNDCGANCritic(data_shape, z_dim, width=width)
    return nets


def _dcgan64(data_shape, z_dim, embed_dim, normalize, sn, with_encoder, *,
             n_power_iterations=1,  # one power-iteration step per forward (when sn is on)
             width=1.0):  # channel multiplier (1: MBGAN Tables 1-2; 0.125 for CPU MNIST runs)
    nets = {"G": DCGAN64Generator(z_dim, data_shape, width),
            "D": DCGAN64Critic(data_shape, embed_dim, normalize, sn, n_power_iterations, width)}
    if with_encoder:
        nets["E"] = DCGAN64Critic(data_shape, z_dim, width=width)
    return nets


ARCHS = {
    "toy_triplet": _toy_triplet,
    "toy_gngan": _toy_gngan,
    "toy_pacgan": _toy_pacgan,
    "mlp_mnist": _mlp_mnist,
    "sndcgan": _sndcgan,
    "dcgan64": _dcgan64,
}


def arch_kwargs_of(arch: str) -> Dict[str, object]:
    """The extra keyword arguments ``arch`` accepts, with their defaults."""
    if arch not in ARCHS:
        raise ValueError(f"arch = {arch!r}: expected one of {', '.join(map(repr, ARCHS))}")
    params = inspect.signature(ARCHS[arch]).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def build_nets(arch: str, *, data_shape: Sequence[int], z_dim: int, embed_dim: int,
               normalize_embedding: bool = False,  # raw embedding / logit
               sn: str = "none",  # no spectral normalisation
               sn_scale: float = 1.0,  # each SN layer of D has norm 1 (official MMD-GAN: 64 ** 0.125)
               with_encoder: bool = False,  # only GN-GAN needs E
               **arch_kwargs) -> Dict[str, nn.Module]:
    """Build ``{"G": G, "D": D}`` (plus ``"E"`` when ``with_encoder``) for ``arch`` in :data:`ARCHS`.

    - ``G(z)``: ``(n, z_dim) -> (n, *data_shape)``.
    - ``D(x)``: ``(n, *data_shape) -> (n, embed_dim)`` always (``embed_dim = 1`` for the classic
      losses: a raw logit, any sigmoid is the loss's business); rows on the unit sphere when
      ``normalize_embedding``. ``sn`` ("none" | "pim" | "pico") wraps every conv/linear layer of D,
      each then used as ``sn_scale * W / sigma(W)``: D is ``sn_scale ** L``-Lipschitz for L such
      layers and 1-Lipschitz activations (the official repulsive MMD-GAN code: act_k = 64 ** (1/8)).
    - ``E(x)``: ``(n, *data_shape) -> (n, z_dim)``: D's architecture with a ``z_dim`` linear
      output, no SN and no normalisation (GN-GAN's encoder; a choice, the papers give only the
      toy one).

    Shapes: ``toy_triplet`` / ``toy_gngan`` / ``mlp_mnist`` take any ``data_shape`` (they
    flatten; the papers use (2,), (2,), (1, 32, 32)); ``sndcgan`` needs (C, H, W) with H, W
    multiples of 8 (32 or 48 in the paper); ``dcgan64`` needs 64x64 (or its 32x32 variant).
    ``arch_kwargs`` are the arch's own options (see :func:`arch_kwargs_of`); unknown ones raise.
    """
    defaults = arch_kwargs_of(arch)
    unknown = sorted(set(arch_kwargs) - set(defaults))
    if unknown:
        raise ValueError(f"arch_kwargs = {unknown}: not options of arch {arch!r}; accepted: "
                         f"{', '.join(defaults) or 'none'}")
    if sn not in SN_METHODS:
        raise ValueError(f"sn = {sn!r}: expected one of {', '.join(map(repr, SN_METHODS))}")
    if not (isinstance(sn_scale, (int, float)) and math.isfinite(sn_scale) and sn_scale > 0):
        raise ValueError(f"sn_scale = {sn_scale!r}: expected a finite number > 0")
    check_embed_dim(embed_dim)
    check_embed_dim(z_dim, "z_dim")
    nets = ARCHS[arch](data_shape, z_dim, embed_dim, bool(normalize_embedding), sn,
                       bool(with_encoder), **arch_kwargs)
    for layer in nets["D"].modules():
        if isinstance(layer, SpectralNormed):
            layer.scale = float(sn_scale)
    return nets
