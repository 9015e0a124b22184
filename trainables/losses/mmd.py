"""MMD-GAN losses (spec section 5): repulsive/attractive critic, bounded RBF, kernel mixtures.

Estimator: Gretton et al.'s unbiased MMD^2_u as the official repulsive MMD-GAN code computes it
(richardwth/MMD-GAN ``GeneralTools/math_func.py``: ``mmd_g`` with ``matrix_mean_wo_diagonal``;
spec section 5, revised): ``E_xx = mean_{i != j} k(e(x_i), e(x_j))``, ``E_yy`` likewise, and at
equal batch sizes n = m also ``E_xy = mean_{i != j} k(e(x_i), e(y_j))`` (the i = j pairs left out);
with n != m, ``E_xy`` is the mean over all n x m pairs.
"""

import functools

import torch

from ._checks import check_embeddings, check_number, check_same_k
from .distances import pairwise_sq_dists
from .offdiag import mean_off_diagonal
from .kernels import gaussian_kernel, rbf_mix_kernel, rq_mix_kernel


def _check(e_real, e_fake):
    check_embeddings("e_real", e_real, min_n=2)
    check_embeddings("e_fake", e_fake, min_n=2)
    check_same_k("e_real", e_real, "e_fake", e_fake)



def _kernel_means(e_real, e_fake, k_xx, k_yy, k_xy):
    """``(E_xx, E_yy, E_xy)`` with one kernel (a function of squared distances) per pair type."""
    e_xx = mean_off_diagonal(k_xx(pairwise_sq_dists(e_real, e_real)))
    e_yy = mean_off_diagonal(k_yy(pairwise_sq_dists(e_fake, e_fake)))
    k_cross = k_xy(pairwise_sq_dists(e_real, e_fake))
    e_xy = mean_off_diagonal(k_cross) if e_real.shape[0] == e_fake.shape[0] else k_cross.mean()
    return e_xx, e_yy, e_xy


def mmd2(e_real: torch.Tensor, e_fake: torch.Tensor, kernel) -> torch.Tensor:
    """Unbiased-within-group estimate ``MMD^2 = E_xx + E_yy - 2 E_xy``.

    ``e_real (n, K)``, ``e_fake (m, K)``, n, m >= 2; ``kernel`` maps squared distances to kernel
    values elementwise (e.g. ``gaussian_kernel``, ``rbf_mix_kernel``, ``rq_mix_kernel``).
    """
    _check(e_real, e_fake)
    e_xx, e_yy, e_xy = _kernel_means(e_real, e_fake, kernel, kernel, kernel)
    return e_xx + e_yy - 2.0 * e_xy


def _check_sigma(sigma):
    return check_number("sigma", sigma, low=0.0, low_open=True)


def _check_bounds(bounds):
    try:
        b_l, b_u = bounds
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be None or a pair (b_l, b_u), got {bounds!r}") from None
    b_l = check_number("bounds[0] (b_l)", b_l, low=0.0, low_open=True)
    b_u = check_number("bounds[1] (b_u)", b_u, low=0.0, low_open=True)
    if not b_l < b_u:
        raise ValueError(f"bounds must satisfy 0 < b_l < b_u, got {bounds!r}")
    return b_l, b_u


def _floored(d2, bound, sigma):
    """``exp(-max(d2, b_l) / (2 sigma^2))``: no reward for pulling a pair closer than b_l."""
    return gaussian_kernel(d2.clamp_min(bound), sigma)


def _capped(d2, bound, sigma):
    """``exp(-min(d2, b_u) / (2 sigma^2))``: no reward for pushing a pair beyond b_u."""
    return gaussian_kernel(d2.clamp_max(bound), sigma)


def mmd_d_loss(e_real: torch.Tensor, e_fake: torch.Tensor, lam: float, sigma: float = 1.0,
               bounds=None) -> torch.Tensor:
    """Repulsive/attractive critic loss ``L_D = lam * E_xx - (lam - 1) * E_xy - E_yy``.

    Gaussian kernel ``exp(-d^2 / (2 sigma^2))`` (default sigma = 1, the paper's) on embeddings
    ``e_real (n, K)``, ``e_fake (m, K)``, n, m >= 2. ``lam = 1``: ``E_xx - E_yy`` (MMD-rep); ``lam = -1``: ``2 E_xy - E_xx - E_yy =
    -MMD^2`` (MMD-rbf, attractive).

    ``bounds = (b_l, b_u)`` (squared distances, ``0 < b_l < b_u``; ``None`` = plain kernel)
    selects the bounded RBF-B kernel:
    - ``lam >= 0`` (repulsive): fake-fake pairs use ``max(d^2, b_l)``, real-real pairs
      ``min(d^2, b_u)``, real-fake pairs are plain;
    - ``lam < 0`` (attractive): real-real and fake-fake pairs use ``max(d^2, b_l)``,
      real-fake pairs ``min(d^2, b_u)``.
    The spec names the bounding for the repulsive form and for lam = -1 only; we apply the
    attractive rule to every ``lam < 0`` (the sign of lam decides which side is attracted).
    """
    _check(e_real, e_fake)
    lam = check_number("lam", lam)
    sigma = _check_sigma(sigma)
    plain = functools.partial(gaussian_kernel, sigma=sigma)
    if bounds is None:
        k_xx = k_yy = k_xy = plain
    else:
        b_l, b_u = _check_bounds(bounds)
        floor = functools.partial(_floored, bound=b_l, sigma=sigma)
        cap = functools.partial(_capped, bound=b_u, sigma=sigma)
        k_xx, k_yy, k_xy = (cap, floor, plain) if lam >= 0 else (floor, floor, cap)
    e_xx, e_yy, e_xy = _kernel_means(e_real, e_fake, k_xx, k_yy, k_xy)
    return lam * e_xx - (lam - 1.0) * e_xy - e_yy


def mmd_g_loss(e_real: torch.Tensor, e_fake: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Generator loss ``L_G = MMD^2 = E_xx + E_yy - 2 E_xy``, plain Gaussian kernel (default sigma = 1)."""
    sigma = _check_sigma(sigma)
    return mmd2(e_real, e_fake, functools.partial(gaussian_kernel, sigma=sigma))


def mmd_rbf_d_loss(e_real: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
    """Baseline MMD-rbf critic: ``L_D = -MMD^2`` with the 5-Gaussian mixture kernel."""
    return -mmd2(e_real, e_fake, rbf_mix_kernel)


def mmd_rbf_g_loss(e_real: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
    """Baseline MMD-rbf generator: ``L_G = MMD^2`` with the 5-Gaussian mixture kernel."""
    return mmd2(e_real, e_fake, rbf_mix_kernel)


def mmd_rq_d_loss(e_real: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
    """Baseline MMD-rq critic: ``L_D = -MMD^2`` with the 5-term rational-quadratic mixture."""
    return -mmd2(e_real, e_fake, rq_mix_kernel)


def mmd_rq_g_loss(e_real: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
    """Baseline MMD-rq generator: ``L_G = MMD^2`` with the 5-term rational-quadratic mixture."""
    return mmd2(e_real, e_fake, rq_mix_kernel)
