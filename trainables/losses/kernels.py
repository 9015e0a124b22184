"""Kernels written as functions of squared distances ``d2`` (any shape, elementwise)."""

import math

import torch

# MMD-rbf baseline bandwidths (Binkowski et al. / repulsive MMD paper): sum of 5 Gaussians.
RBF_MIX_SIGMAS = (1.0, math.sqrt(2.0), 2.0, 2.0 * math.sqrt(2.0), 4.0)
# MMD-rq baseline scale mixture parameters: sum of 5 rational quadratics.
RQ_MIX_ALPHAS = (0.2, 0.5, 1.0, 2.0, 5.0)


def gaussian_kernel(d2: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Gaussian RBF ``k = exp(-d2 / (2 sigma^2))`` of squared distances ``d2``."""
    return torch.exp(-d2 / (2.0 * sigma * sigma))


def rbf_mix_kernel(d2: torch.Tensor) -> torch.Tensor:
    """``k = sum_{sigma in {1, sqrt2, 2, 2sqrt2, 4}} exp(-d2 / (2 sigma^2))`` (MMD-rbf)."""
    return sum(gaussian_kernel(d2, s) for s in RBF_MIX_SIGMAS)


def rational_quadratic_kernel(d2: torch.Tensor, alpha: float) -> torch.Tensor:
    """Rational quadratic ``k = (1 + d2 / (2 alpha))^(-alpha)``."""
    return torch.pow(1.0 + d2 / (2.0 * alpha), -alpha)


def rq_mix_kernel(d2: torch.Tensor) -> torch.Tensor:
    """``k = sum_{a in {0.2, 0.5, 1, 2, 5}} (1 + d2 / (2a))^(-a)`` (MMD-rq)."""
    return sum(rational_quadratic_kernel(d2, a) for a in RQ_MIX_ALPHAS)
