"""Tests for the 2D mixtures (trainables.data.toy) and PacGAN's measures (trainables.metrics.toy)."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from trainables.data.toy import MIXTURES, Mixture, ToyStream, get_mixture
from trainables.metrics.toy import EVAL_POINTS, toy_measures

torch.manual_seed(0)


def _points_on_modes(mixture: Mixture, counts: list[int]) -> torch.Tensor:
    """counts[k] copies of mode k's mean, built by an explicit loop."""
    rows = []
    for k, c in enumerate(counts):
        rows.extend([list(mixture.means[k])] * c)
    return torch.tensor(rows, dtype=torch.float64)


def _ref_kl_uniform(counts: list[int]) -> float:
    """KL(p || uniform) by an explicit loop over modes."""
    total = sum(counts)
    k = len(counts)
    out = 0.0
    for c in counts:
        if c > 0:
            p = c / total
            out += p * math.log(p * k)
    return out


def _ref_jsd_uniform(counts: list[int]) -> float:
    """JSD(p, uniform) by an explicit loop over modes."""
    total = sum(counts)
    k = len(counts)
    out = 0.0
    for c in counts:
        p, u = c / total, 1.0 / k
        m = (p + u) / 2
        if p > 0:
            out += 0.5 * p * math.log(p / m)
        out += 0.5 * u * math.log(u / m)
    return out


def test_mixture_geometry():
    ring = get_mixture("ring8")
    assert ring.num_modes == 8 and ring.std == 0.01
    assert ring.means[0] == pytest.approx((1.0, 0.0))
    for k, (x, y) in enumerate(ring.means):
        assert math.hypot(x, y) == pytest.approx(1.0)
        assert math.atan2(y, x) % (2 * math.pi) == pytest.approx(2 * math.pi * k / 8, abs=1e-9)
    grid = get_mixture("grid25")
    assert grid.std == 0.05
    expected = {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert set(grid.means) == expected and len(grid.means) == 25
    assert grid.means_tensor().shape == (25, 2) and grid.means_tensor().dtype == torch.float32
    assert set(MIXTURES) == {"ring8", "grid25"}


def test_unknown_mixture_raises():
    with pytest.raises(ValueError, match="ring8"):
        get_mixture("ring9")
    with pytest.raises(ValueError):
        ToyStream("nope", 4, 0)
    with pytest.raises(ValueError):
        ToyStream("ring8", 0, 0)


def test_points_on_three_modes():
    ring = get_mixture("ring8")
    pts = _points_on_modes(ring, [4, 0, 7, 0, 0, 1, 0, 0])
    out = toy_measures(pts, "ring8")
    assert set(out) == {"modes", "modes_20", "hq", "kl", "jsd", "fit"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["modes"] == 3 and out["hq"] == 1.0 and out["modes_20"] == 0


def test_points_far_from_modes():
    pts = torch.full((50, 2), 10.0)
    for name in ("ring8", "grid25"):
        out = toy_measures(pts, name)
        assert out["hq"] == 0 and out["modes"] == 0 and out["modes_20"] == 0
        assert math.isfinite(out["kl"]) and math.isfinite(out["jsd"])
        k = get_mixture(name).num_modes
        # stated choice: no HQ point scores as a point mass (the worst case)
        assert out["kl"] == pytest.approx(math.log(k))
        assert out["jsd"] == pytest.approx(_ref_jsd_uniform([1] + [0] * (k - 1)))


def test_nonfinite_points_are_not_hq():
    ring = get_mixture("ring8")
    pts = torch.cat([_points_on_modes(ring, [1] * 8), torch.tensor([[float("nan"), 0.0], [float("inf"), 1.0]])])
    out = toy_measures(pts, ring)
    assert out["modes"] == 8 and out["hq"] == pytest.approx(8 / 10)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_balanced_histogram_is_zero_divergence(name):
    mix = get_mixture(name)
    pts = _points_on_modes(mix, [30] * mix.num_modes)
    pts = pts + 0.5 * mix.std * torch.randn(pts.shape, dtype=torch.float64).clamp(-1.0, 1.0)  # within 0.5 std
    out = toy_measures(pts, name)
    assert out["modes"] == mix.num_modes and out["modes_20"] == mix.num_modes and out["hq"] == 1.0
    assert out["kl"] == pytest.approx(0.0, abs=1e-12)
    assert out["jsd"] == pytest.approx(0.0, abs=1e-12)


def test_modes_20_threshold():
    ring = get_mixture("ring8")
    out = toy_measures(_points_on_modes(ring, [19, 20, 0, 0, 0, 0, 0, 0]), ring)
    assert out["modes"] == 2 and out["modes_20"] == 1
    out = toy_measures(_points_on_modes(ring, [20, 20, 0, 0, 0, 0, 0, 0]), ring)
    assert out["modes_20"] == 2


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_hq_radius_boundary(name):
    mix = get_mixture(name)
    x, y = mix.means[3]
    inside = [x + 2.9 * mix.std, y]
    outside = [x, y - 3.1 * mix.std]
    diagonal_in = [x + 2.9 * mix.std / math.sqrt(2), y + 2.9 * mix.std / math.sqrt(2)]
    assert toy_measures(np.array([inside]), name)["hq"] == 1.0
    assert toy_measures(np.array([diagonal_in]), name)["modes"] == 1.0
    assert toy_measures(np.array([outside]), name)["hq"] == 0.0
    # the n_std argument moves the boundary
    assert toy_measures(np.array([outside]), name, n_std=3.2)["hq"] == 1.0


def test_kl_jsd_against_independent_references():
    grid = get_mixture("grid25")
    counts = [(k * 7) % 11 for k in range(25)]  # uneven, with some empty modes
    hq_pts = _points_on_modes(grid, counts)
    far = torch.tensor([[1.0, 1.0], [3.0, -3.0], [100.0, 0.0]], dtype=torch.float64)  # between modes: not HQ
    pts = torch.cat([hq_pts, far]).numpy()
    out = toy_measures(pts, grid)
    total = sum(counts)
    p = np.array(counts) / total
    u = np.full(25, 1 / 25)
    assert out["hq"] == pytest.approx(total / (total + 3))
    assert out["modes"] == sum(c > 0 for c in counts)
    assert out["kl"] == pytest.approx(entropy(p, u), rel=1e-9)
    assert out["kl"] == pytest.approx(_ref_kl_uniform(counts), rel=1e-9)
    assert out["jsd"] == pytest.approx(jensenshannon(p, u) ** 2, rel=1e-9)
    assert out["jsd"] == pytest.approx(_ref_jsd_uniform(counts), rel=1e-9)
    assert 0 < out["jsd"] < math.log(2)


def test_bad_points_shape_raises():
    with pytest.raises(ValueError, match="points"):
        toy_measures(torch.zeros(5, 3), "ring8")
    with pytest.raises(ValueError, match="points"):
        toy_measures(torch.zeros(0, 2), "ring8")


def test_stream_seeding():
    a, b, c = ToyStream("ring8", 16, seed=1), ToyStream("ring8", 16, seed=1), ToyStream("ring8", 16, seed=2)
    torch.manual_seed(123)  # the global RNG must not matter
    xa = [a.next() for _ in range(3)]
    torch.manual_seed(456)
    xb = [b.next() for _ in range(3)]
    xc = [c.next() for _ in range(3)]
    for u, v in zip(xa, xb):
        assert torch.equal(u, v)
    assert not torch.equal(xa[0], xc[0])
    assert not torch.equal(xa[0], xa[1])
    assert xa[0].shape == (16, 2) and xa[0].dtype == torch.float32 and xa[0].device.type == "cpu"
    assert a.data_shape == (2,)
    assert a.sample(5).shape == (5, 2)


def test_stream_resume_matches_uninterrupted():
    full = ToyStream("grid25", 8, seed=7)
    reference = [full.next() for _ in range(6)]
    first = ToyStream("grid25", 8, seed=7)
    for _ in range(3):
        first.next()
    state = first.state_dict()
    assert state["generator"].dtype == torch.uint8
    first.next()  # advancing after the save must not change the saved state
    resumed = ToyStream("grid25", 8, seed=999)
    resumed.load_state_dict(state)
    for k in range(3, 6):
        assert torch.equal(resumed.next(), reference[k])
    with pytest.raises(ValueError):
        ToyStream("ring8", 8, seed=7).load_state_dict(state)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_stream_samples_score_as_real(name):
    mix = get_mixture(name)
    pts = ToyStream(name, 100, seed=3).sample(EVAL_POINTS)
    out = toy_measures(pts, name)
    # in 2D, P(|eps| <= 3) = 1 - exp(-9/2) ~ 0.9889; 5 binomial standard deviations ~ 0.0105
    p_in = 1 - math.exp(-4.5)
    assert abs(out["hq"] - p_in) < 5 * math.sqrt(p_in * (1 - p_in) / EVAL_POINTS)
    assert out["modes"] == mix.num_modes and out["modes_20"] == mix.num_modes
    assert out["kl"] < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_stream_sampled_on_cuda():
    """A CUDA stream draws on the device (its own seeded generator), resumes there, scores as real,
    and refuses a CPU stream's state (and the other way round) with a one-line error."""
    gpu, again = ToyStream("grid25", 32, seed=5, device="cuda"), ToyStream("grid25", 32, seed=5, device="cuda")
    x = gpu.next()
    assert x.device.type == "cuda" and torch.equal(x, again.next())
    state = gpu.state_dict()
    resumed = ToyStream("grid25", 32, seed=0, device="cuda")
    resumed.load_state_dict(state)
    assert torch.equal(resumed.next(), gpu.next())
    with pytest.raises(ValueError, match="device_type"):
        ToyStream("grid25", 32, seed=5).load_state_dict(state)
    with pytest.raises(ValueError, match="device_type"):
        resumed.load_state_dict(ToyStream("grid25", 32, seed=5).state_dict())
    out = toy_measures(gpu.sample(EVAL_POINTS).cpu(), "grid25")
    assert out["modes_20"] == 25 and out["kl"] < 0.05
