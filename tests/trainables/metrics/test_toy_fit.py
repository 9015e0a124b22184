"""The toy study metric ``fit`` (1 - TV to the true mixture on the mode cells): ordering of
typical generators, agreement with a loop reference, finiteness and cost."""

import math

import numpy as np

from trainables.data.toy import get_mixture
from trainables.metrics.toy import hq_probability, toy_measures

N = 2500


def _fit_reference(points: np.ndarray, means: np.ndarray, std: float, n_std: float = 3.0) -> float:
    """Loop reference: assign each finite point within n_std*std of its nearest mean to that
    mode's cell, everything else to the off cell; sum over cells of min(generated, true)."""
    k = len(means)
    cells = [0] * (k + 1)
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            cells[k] += 1
            continue
        dists = [math.hypot(x - mx, y - my) for mx, my in means]
        j = min(range(k), key=dists.__getitem__)
        cells[j if dists[j] <= n_std * std else k] += 1
    p_hq = 1 - math.exp(-n_std**2 / 2)
    true = [p_hq / k] * k + [1 - p_hq]
    return sum(min(c / len(points), t) for c, t in zip(cells, true))


def _mixture_sample(means: np.ndarray, std: float, n: int, rng, modes=None) -> np.ndarray:
    modes = np.arange(len(means)) if modes is None else np.asarray(modes)
    idx = rng.choice(modes, size=n)
    return means[idx] + std * rng.standard_normal((n, 2))


def test_fit_orders_blob_collapse_partial_perfect():
    mix = get_mixture("grid25")
    means, rng = np.array(mix.means), np.random.default_rng(0)
    blob = rng.uniform(-5, 5, size=(N, 2))
    collapse = 0.02 * rng.standard_normal((N, 2))  # every point on the centre mode
    partial = _mixture_sample(means, mix.std, N, rng, modes=rng.choice(25, 12, replace=False))
    perfect = _mixture_sample(means, mix.std, N, rng)
    fits = [toy_measures(p, mix)["fit"] for p in (blob, collapse, partial, perfect)]
    assert fits == sorted(fits) and len(set(fits)) == 4, fits
    assert fits[0] < 0.05 and fits[1] <= 1 / 25 + 1e-9  # a blob and a collapse are both near 0
    assert abs(fits[2] - 12 / 25) < 0.03  # a perfect fit of 12 modes scores about 12/25
    assert fits[3] > 0.9  # true samples: only multinomial noise is lost


def test_fit_matches_loop_reference_on_both_mixtures():
    rng = np.random.default_rng(1)
    for name in ("ring8", "grid25"):
        mix = get_mixture(name)
        means = np.array(mix.means)
        pts = np.concatenate([_mixture_sample(means, mix.std * 2, 300, rng, modes=[0, 1, 2]),
                              rng.uniform(-2, 2, size=(100, 2))])
        got = toy_measures(pts, mix)["fit"]
        assert abs(got - _fit_reference(pts, means, mix.std)) < 1e-12


def test_fit_is_continuous_no_tie_for_one_point():
    mix = get_mixture("ring8")
    means, rng = np.array(mix.means), np.random.default_rng(2)
    pts = _mixture_sample(means, mix.std, N, rng, modes=[0, 1, 2, 3])
    moved = pts.copy()
    moved[0] = means[5]  # one point leaves a full mode for an empty one
    assert toy_measures(moved, mix)["fit"] > toy_measures(pts, mix)["fit"]


def test_fit_finite_with_nan_and_inf_points():
    mix = get_mixture("grid25")
    pts = _mixture_sample(np.array(mix.means), mix.std, N, np.random.default_rng(3))
    pts[:100] = np.nan
    pts[100:200, 0] = np.inf
    m = toy_measures(pts, mix)
    assert all(math.isfinite(v) for v in m.values())
    assert 0.8 < m["fit"] < 0.97  # 8% of the points are lost, the rest still count
    all_nan = toy_measures(np.full((N, 2), np.nan), mix)
    assert all_nan["fit"] == 1 - hq_probability(3.0)  # only the off cell overlaps
