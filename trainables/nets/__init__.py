"""Networks: spectral normalisation (PIM / PICO), MLPs, DCGAN-style image nets and a builder."""

from .build import ARCHS, arch_kwargs_of, build_nets
from .heads import SphereProjection, check_embed_dim, embedding_head
from .images import (DCGAN64Critic, DCGAN64Generator, SNDCGANCritic, SNDCGANGenerator,
                     dcgan_init_)
from .mlp import ACTIVATIONS, MLP, MLPCritic, MLPGenerator, make_activation
from .spectral import SN_METHODS, SpectralNormed, pico_sigma, pim_sigma, spectral_norm

__all__ = [
    "ARCHS", "arch_kwargs_of", "build_nets",
    "SphereProjection", "check_embed_dim", "embedding_head",
    "DCGAN64Critic", "DCGAN64Generator", "SNDCGANCritic", "SNDCGANGenerator", "dcgan_init_",
    "ACTIVATIONS", "MLP", "MLPCritic", "MLPGenerator", "make_activation",
    "SN_METHODS", "SpectralNormed", "pico_sigma", "pim_sigma", "spectral_norm",
]
