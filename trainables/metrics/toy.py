"""PacGAN's mode-coverage measures for the 2D mixtures (benchmarks.md, "Synthetic 2D mixtures")."""

from __future__ import annotations

import math

import numpy as np
import torch

from trainables.data.toy import Mixture, get_mixture

EVAL_POINTS = 2500  # generated points per evaluation (PacGAN's protocol)


def _kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p || q) = sum_k p_k ln(p_k / q_k), with 0 ln 0 = 0 (q > 0 everywhere)."""
    return float((torch.xlogy(p, p) - torch.xlogy(p, q)).sum())


def _histogram_divergences(counts: torch.Tensor) -> tuple[float, float]:
    """(KL(p || u), JSD(p, u)) of the histogram ``counts`` against the uniform u over K modes.

    JSD(p, u) = KL(p || m) / 2 + KL(u || m) / 2 with m = (p + u) / 2, natural log.
    An empty histogram (no HQ point) is scored as a point mass on one mode, the worst case either
    divergence can reach: KL = ln K, JSD = JSD(delta, u). Values are always finite.
    """
    k = counts.numel()
    u = torch.full((k,), 1.0 / k, dtype=torch.float64)
    total = counts.sum()
    if total > 0:
        p = counts.to(torch.float64) / total
    else:
        p = torch.zeros(k, dtype=torch.float64)
        p[0] = 1.0
    m = 0.5 * (p + u)
    return _kl(p, u), 0.5 * _kl(p, m) + 0.5 * _kl(u, m)


def hq_probability(n_std: float) -> float:
    """P(||x - mu|| <= n_std * std) for a 2D isotropic Gaussian: the chi-square(2) CDF, 1 - exp(-n^2/2)."""
    return 1.0 - math.exp(-0.5 * n_std**2)


def mixture_fit(counts: torch.Tensor, n_points: int, n_std: float = 3.0) -> float:
    """1 - total variation between the generated and the true mixture on K + 1 cells.

    The cells are "HQ and nearest to mode k" (k = 1..K) and "not HQ". The true mixture puts
    q_k = P_hq / K in each mode cell (P_hq = :func:`hq_probability`, 0.989 at 3 std) and
    1 - P_hq in the last; the generator puts p_k = counts_k / N and p_off = 1 - sum_k p_k.
    fit = sum_cells min(p, q) = 1 - TV(p, q), in [0, 1].

    Why this number (issue 11): PacGAN's ``modes`` is a count that an untrained blob maximises
    (one HQ point per mode is enough) and ``hq`` rewards a collapse onto one mode; both are
    integers or ratios with ties. ``fit`` is the mass the generator places where the mixture puts
    it, in the right proportion: a uniform blob scores its HQ fraction (~0.02 on grid25), a
    one-mode collapse at most 1/K, a perfect fit of 12 of 25 modes 12/25, and only a sample that
    covers every mode in balance with HQ points reaches ~1 (true data: ~0.95 at N = 2,500, the
    gap being multinomial noise). It moves with every point that enters or leaves a cell, so
    clearly different generators do not tie, and it costs one (N, K) distance matrix.
    """
    k = counts.numel()
    p_hq = hq_probability(n_std)
    p = counts.to(torch.float64) / n_points
    mode_overlap = torch.minimum(p, torch.full_like(p, p_hq / k)).sum()
    off_overlap = min(1.0 - float(p.sum()), 1.0 - p_hq)
    return float(mode_overlap) + off_overlap


def toy_measures(points: torch.Tensor | np.ndarray, mixture: str | Mixture, n_std: float = 3.0) -> dict[str, float]:
    """Mode coverage and quality of ``points`` (an (N, 2) tensor or array) under ``mixture``.

    A point is high quality (HQ) if its Euclidean distance to the nearest mode mean is
    <= ``n_std * std`` (PacGAN). Returns floats:
      - ``modes``: modes with >= 1 HQ point (a point counts for its nearest mode);
      - ``modes_20``: modes with >= 20 HQ points;
      - ``hq``: HQ points / N (non-finite points are never HQ);
      - ``kl``: KL(p || uniform) of the HQ points' mode histogram p, natural log;
      - ``jsd``: Jensen-Shannon divergence of p and uniform, natural log (in [0, ln 2]);
      - ``fit``: 1 - TV to the true mixture on the mode cells (:func:`mixture_fit`), in [0, 1].
    With no HQ point, kl = ln K and jsd = JSD(point mass, uniform) (the worst cases), never NaN.
    Computed in float64 on CPU.
    """
    mix = get_mixture(mixture) if isinstance(mixture, str) else mixture
    if not isinstance(mix, Mixture):
        raise ValueError(f"mixture = {mixture!r}: expected a mixture name or a Mixture")
    if not (isinstance(n_std, (int, float)) and n_std > 0 and math.isfinite(n_std)):
        raise ValueError(f"n_std = {n_std!r}: must be a finite number > 0")
    pts = torch.as_tensor(points).detach().to("cpu", torch.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise ValueError(f"points: shape {tuple(pts.shape)}, expected (N, 2) with N >= 1")

    means = mix.means_tensor(torch.float64)
    sq_dist = ((pts[:, None, :] - means[None, :, :]) ** 2).sum(-1)  # (N, K)
    nearest_sq, nearest = sq_dist.min(dim=1)
    is_hq = nearest_sq.sqrt() <= n_std * mix.std  # NaN compares False
    counts = torch.bincount(nearest[is_hq], minlength=mix.num_modes)

    kl, jsd = _histogram_divergences(counts)
    return {
        "modes": float((counts >= 1).sum()),
        "modes_20": float((counts >= 20).sum()),
        "hq": float(is_hq.sum()) / pts.shape[0],
        "kl": kl,
        "jsd": jsd,
        "fit": mixture_fit(counts, pts.shape[0], n_std),
    }
