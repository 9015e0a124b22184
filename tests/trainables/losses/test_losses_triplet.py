"""TripletGAN losses against loop references; properties from spec section 1."""

import math

import pytest
import torch

from trainables.losses import triplet_d_loss, triplet_g_loss

EPS = 1e-6  # the spec's cosine clamp


def _unit_rows(n, k, gen):
    e = torch.randn(n, k, generator=gen, dtype=torch.float64)
    return e / e.norm(dim=1, keepdim=True)


def _arc(a, b):
    cos = sum(float(a[k]) * float(b[k]) for k in range(len(a)))
    return math.acos(min(max(cos, -1 + EPS), 1 - EPS))


def _l2(a, b):
    return math.sqrt(sum((float(a[k]) - float(b[k])) ** 2 for k in range(len(a))))


REF_DIST = {"arc": _arc, "l2": _l2}


def _ref_losses(x, y, margin, dist):
    d = REF_DIST[dist]
    n = x.shape[0]
    d_terms, g_terms = [], []
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            neg, pos = d(x[i], y[i]), d(y[i], y[j])
            d_terms.append(max(0.0, margin - neg + pos))
            g_terms.append(neg - pos)
    return sum(d_terms) / len(d_terms), sum(g_terms) / len(g_terms)


@pytest.mark.parametrize("distance", ["arc", "l2"])
@pytest.mark.parametrize("margin", [0.0, 0.5, 1.6])
@pytest.mark.parametrize("n,k", [(2, 1), (3, 4), (7, 16), (7, 4), (2, 16)])
def test_triplet_losses_match_loop_reference(n, k, margin, distance):
    gen = torch.Generator().manual_seed(n * 100 + k)
    x, y = _unit_rows(n, k, gen), _unit_rows(n, k, gen)
    ref_d, ref_g = _ref_losses(x, y, margin, distance)
    got_d = triplet_d_loss(x, y, margin, distance=distance)
    got_g = triplet_g_loss(x, y, distance=distance)
    assert got_d.dim() == 0 and got_g.dim() == 0
    assert torch.allclose(got_d, torch.tensor(ref_d, dtype=torch.float64), atol=1e-12, rtol=1e-10)
    assert torch.allclose(got_g, torch.tensor(ref_g, dtype=torch.float64), atol=1e-12, rtol=1e-10)


def test_default_distance_is_arc():
    gen = torch.Generator().manual_seed(0)
    x, y = _unit_rows(5, 4, gen), _unit_rows(5, 4, gen)
    assert torch.allclose(triplet_d_loss(x, y, 0.5), triplet_d_loss(x, y, 0.5, distance="arc"))
    assert not torch.allclose(triplet_g_loss(x, y), triplet_g_loss(x, y, distance="l2"))


def _ring(theta, azimuths):
    """Unit vectors in R^3 at polar angle theta and the given azimuths."""
    return torch.tensor([[math.sin(theta) * math.cos(a), math.sin(theta) * math.sin(a),
                          math.cos(theta)] for a in azimuths], dtype=torch.float64)


@pytest.mark.parametrize("distance", ["arc", "l2"])
def test_generator_loss_rewards_spread_fakes(distance):
    # Fixed critic embeddings: all reals at the pole; fakes at the same polar angle, so
    # d(x_i, y_i) is identical in both cases and only the spread term differs.
    n, theta = 6, 1.0
    x = _ring(0.0, [0.0] * n)
    spread = _ring(theta, [2 * math.pi * i / n for i in range(n)])
    collapsed = _ring(theta, [0.3] * n)
    g_spread = triplet_g_loss(x, spread, distance=distance)
    g_collapsed = triplet_g_loss(x, collapsed, distance=distance)
    assert g_spread < g_collapsed - 0.5
    # collapsed fakes: d(y_i, y_j) is 0 (l2) or the clamp's floor arccos(1 - eps) (arc)
    floor = {"arc": math.acos(1 - EPS), "l2": 0.0}[distance]
    d_xy = REF_DIST[distance](x[0], collapsed[0])
    assert math.isclose(float(g_collapsed), d_xy - floor, abs_tol=1e-9)


@pytest.mark.parametrize("distance", ["arc", "l2"])
def test_gradients_finite_for_collapsed_and_antipodal_points(distance):
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[-1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64,
                     requires_grad=True)
    x = x.clone().requires_grad_(True)
    loss = triplet_d_loss(x, y, 0.5, distance=distance) + triplet_g_loss(x, y, distance=distance)
    gx, gy = torch.autograd.grad(loss, (x, y))
    assert torch.isfinite(gx).all() and torch.isfinite(gy).all()


def test_margin_gradient_direction_critic_pushes_reals_away():
    gen = torch.Generator().manual_seed(3)
    x, y = _unit_rows(4, 3, gen), _unit_rows(4, 3, gen)
    x.requires_grad_(True)
    # with a huge margin every hinge is active: L_D = c - mean d(x_i,y_i) + mean d(y_i,y_j)
    loss = triplet_d_loss(x, y, 10.0, distance="l2")
    (gx,) = torch.autograd.grad(loss, x)
    expected = -(x - y).detach() / (x - y).detach().norm(dim=1, keepdim=True) / 4
    assert torch.allclose(gx, expected, atol=1e-12)


def test_validation():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="arc.*l2|l2.*arc"):
        triplet_d_loss(x, x, 0.5, distance="cosine")
    with pytest.raises(ValueError, match="arc.*l2|l2.*arc"):
        triplet_g_loss(x, x, distance="L1")
    with pytest.raises(ValueError, match="margin"):
        triplet_d_loss(x, x, -0.1)
    with pytest.raises(ValueError, match="e_fake"):
        triplet_d_loss(x, torch.randn(4, 5), 0.5)
    with pytest.raises(ValueError, match="e_fake"):
        triplet_g_loss(x, torch.randn(3, 3))
    with pytest.raises(ValueError, match="e_real"):
        triplet_d_loss(torch.randn(1, 3), torch.randn(1, 3), 0.5)
    with pytest.raises(ValueError, match="e_real"):
        triplet_g_loss(torch.randn(4), torch.randn(4, 1))
