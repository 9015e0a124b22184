"""MMD losses (spec section 5) against loop references: general lambda, bounded RBF, mixtures."""

import math

import pytest
import torch

from trainables.losses import (gaussian_kernel, mmd2, mmd_d_loss, mmd_g_loss, mmd_rbf_d_loss,
                               mmd_rbf_g_loss, mmd_rq_d_loss, mmd_rq_g_loss, pairwise_sq_dists,
                               rbf_mix_kernel, rq_mix_kernel)

LAMBDAS = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
BOUNDS = [None, (0.25, 4.0), (1.0, 1.5)]  # the last one is tight and binds on these inputs


def _sq(a, b):
    return sum((float(a[k]) - float(b[k])) ** 2 for k in range(len(a)))


def _gauss(d2, sigma):
    return math.exp(-d2 / (2 * sigma ** 2))


def _rbf_mix(d2):
    return sum(_gauss(d2, s) for s in (1.0, 2 ** 0.5, 2.0, 2 * 2 ** 0.5, 4.0))


def _rq_mix(d2):
    return sum((1 + d2 / (2 * a)) ** (-a) for a in (0.2, 0.5, 1.0, 2.0, 5.0))


def _means(x, y, k_xx, k_yy, k_xy):
    n, m = x.shape[0], y.shape[0]
    e_xx = sum(k_xx(_sq(x[i], x[j])) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    e_yy = sum(k_yy(_sq(y[i], y[j])) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    if n == m:  # the official code's MMD^2_u: the cross term without its i = j pairs (spec 5)
        e_xy = sum(k_xy(_sq(x[i], y[j])) for i in range(n) for j in range(m) if i != j) / (n * (n - 1))
    else:
        e_xy = sum(k_xy(_sq(x[i], y[j])) for i in range(n) for j in range(m)) / (n * m)
    return e_xx, e_yy, e_xy


def _ref_d(x, y, lam, sigma, bounds):
    plain = lambda d2: _gauss(d2, sigma)  # noqa: E731
    if bounds is None:
        kernels = (plain, plain, plain)
    else:
        b_l, b_u = bounds
        floor = lambda d2: _gauss(max(d2, b_l), sigma)  # noqa: E731
        cap = lambda d2: _gauss(min(d2, b_u), sigma)  # noqa: E731
        # (real-real, fake-fake, real-fake)
        kernels = (cap, floor, plain) if lam >= 0 else (floor, floor, cap)
    e_xx, e_yy, e_xy = _means(x, y, *kernels)
    return lam * e_xx - (lam - 1) * e_xy - e_yy


def _data(n, m, k, seed, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, k, generator=gen, dtype=torch.float64) * scale
    y = torch.randn(m, k, generator=gen, dtype=torch.float64) * scale + 0.2
    return x, y


def _t(v):
    return torch.tensor(v, dtype=torch.float64)


def test_pairwise_sq_dists_matches_loops():
    x, y = _data(3, 5, 4, 0)
    got = pairwise_sq_dists(x, y)
    ref = torch.tensor([[_sq(x[i], y[j]) for j in range(5)] for i in range(3)], dtype=torch.float64)
    assert got.shape == (3, 5) and torch.allclose(got, ref, atol=1e-12)
    imgs = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    flat = imgs.reshape(3, -1)
    ref_img = torch.tensor([[_sq(flat[i], flat[j]) for j in range(3)] for i in range(3)],
                           dtype=torch.float64)
    assert torch.allclose(pairwise_sq_dists(imgs, imgs), ref_img, atol=1e-12)


def test_kernels_match_formulas():
    d2 = torch.tensor([0.0, 0.3, 2.0, 9.0], dtype=torch.float64)
    for s in (0.5, 1.0, 3.0):
        assert torch.allclose(gaussian_kernel(d2, s), _t([_gauss(float(v), s) for v in d2]))
    assert torch.allclose(rbf_mix_kernel(d2), _t([_rbf_mix(float(v)) for v in d2]))
    assert torch.allclose(rq_mix_kernel(d2), _t([_rq_mix(float(v)) for v in d2]))


@pytest.mark.parametrize("bounds", BOUNDS)
@pytest.mark.parametrize("lam", LAMBDAS)
@pytest.mark.parametrize("n,m,k", [(2, 2, 1), (3, 3, 4), (7, 7, 16), (3, 7, 4), (7, 2, 1)])
def test_mmd_d_loss_matches_loop_reference(n, m, k, lam, bounds):
    x, y = _data(n, m, k, 7 * n + 3 * m + k, scale=0.6)
    for sigma in (1.0, 0.7):
        got = mmd_d_loss(x, y, lam, sigma=sigma, bounds=bounds)
        assert got.dim() == 0
        assert torch.allclose(got, _t(_ref_d(x, y, lam, sigma, bounds)), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("lam", LAMBDAS)
def test_tight_bounds_bind(lam):
    x, y = _data(7, 7, 4, 123, scale=0.6)
    d2 = torch.cat([pairwise_sq_dists(x, x).flatten(), pairwise_sq_dists(y, y).flatten(),
                    pairwise_sq_dists(x, y).flatten()])
    assert (d2 > 1.5).any() and ((d2 > 0) & (d2 < 1.0)).any()  # both bounds are active
    bounded = mmd_d_loss(x, y, lam, bounds=(1.0, 1.5))
    assert not torch.allclose(bounded, mmd_d_loss(x, y, lam))
    assert torch.allclose(bounded, _t(_ref_d(x, y, lam, 1.0, (1.0, 1.5))), atol=1e-12)


@pytest.mark.parametrize("n,m,k", [(2, 2, 1), (3, 7, 4), (7, 7, 16)])
def test_special_cases_of_lambda(n, m, k):
    x, y = _data(n, m, k, 11 * n + m + k)
    e_xx, e_yy, e_xy = _means(x, y, *(lambda d2: _gauss(d2, 1.0),) * 3)
    # lam = -1 is the attractive loss -MMD^2
    assert torch.allclose(mmd_d_loss(x, y, -1.0), -mmd_g_loss(x, y), atol=1e-12)
    assert torch.allclose(mmd_g_loss(x, y), _t(e_xx + e_yy - 2 * e_xy), atol=1e-12)
    # lam = 1 is E_xx - E_yy
    assert torch.allclose(mmd_d_loss(x, y, 1.0), _t(e_xx - e_yy), atol=1e-12)
    # bounded lam = -1 is the attractive bounded form 2 E_xy^cap - E_xx^floor - E_yy^floor
    b_l, b_u = 0.5, 2.0
    floor = lambda d2: _gauss(max(d2, b_l), 1.0)  # noqa: E731
    cap = lambda d2: _gauss(min(d2, b_u), 1.0)  # noqa: E731
    f_xx, f_yy, c_xy = _means(x, y, floor, floor, cap)
    assert torch.allclose(mmd_d_loss(x, y, -1.0, bounds=(b_l, b_u)), _t(2 * c_xy - f_xx - f_yy),
                          atol=1e-12)


@pytest.mark.parametrize("n,m,k", [(2, 2, 1), (3, 7, 4), (7, 7, 16)])
def test_mixture_baselines_match_loop_reference(n, m, k):
    x, y = _data(n, m, k, 5 * n + m + k)
    for ref_k, d_fn, g_fn, kernel in ((_rbf_mix, mmd_rbf_d_loss, mmd_rbf_g_loss, rbf_mix_kernel),
                                      (_rq_mix, mmd_rq_d_loss, mmd_rq_g_loss, rq_mix_kernel)):
        e_xx, e_yy, e_xy = _means(x, y, ref_k, ref_k, ref_k)
        ref = e_xx + e_yy - 2 * e_xy
        assert torch.allclose(g_fn(x, y), _t(ref), atol=1e-12)
        assert torch.allclose(d_fn(x, y), _t(-ref), atol=1e-12)
        assert torch.allclose(mmd2(x, y, kernel), _t(ref), atol=1e-12)


def test_generator_loss_uses_plain_kernel_with_sigma():
    x, y = _data(4, 5, 3, 9)
    e_xx, e_yy, e_xy = _means(x, y, *(lambda d2: _gauss(d2, 2.5),) * 3)
    assert torch.allclose(mmd_g_loss(x, y, sigma=2.5), _t(e_xx + e_yy - 2 * e_xy), atol=1e-12)


def test_gradients_flow_to_both_embeddings():
    x, y = _data(5, 5, 3, 2)
    x.requires_grad_(True)
    y.requires_grad_(True)
    loss = mmd_d_loss(x, y, 0.5, bounds=(0.25, 4.0)) + mmd_g_loss(x, y)
    gx, gy = torch.autograd.grad(loss, (x, y))
    assert torch.isfinite(gx).all() and gx.abs().sum() > 0 and gy.abs().sum() > 0


def test_validation():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="e_fake"):
        mmd_d_loss(x, torch.randn(4, 2), 1.0)
    with pytest.raises(ValueError, match="e_fake"):
        mmd_g_loss(x, torch.randn(1, 3))
    with pytest.raises(ValueError, match="e_real"):
        mmd_rbf_g_loss(torch.randn(1, 3), x)
    with pytest.raises(ValueError, match="sigma"):
        mmd_d_loss(x, x, 1.0, sigma=0.0)
    with pytest.raises(ValueError, match="sigma"):
        mmd_g_loss(x, x, sigma=-1.0)
    for bad in [(4.0, 0.25), (0.0, 4.0), (-1.0, 4.0), (1.0, 1.0), (0.25,), "ab"]:
        with pytest.raises(ValueError, match="bounds"):
            mmd_d_loss(x, x, 1.0, bounds=bad)


def test_identical_batches_have_zero_mmd_as_in_the_official_code():
    """MMD^2_u with the cross term's i = j pairs left out (official code, spec 5) is exactly 0 for
    two identical batches; averaging the cross term over all n x n pairs would make it negative."""
    x = torch.randn(6, 3, dtype=torch.float64)
    assert mmd_g_loss(x, x.clone()).abs().item() < 1e-12
    k = gaussian_kernel(pairwise_sq_dists(x, x), 1.0)
    off_diagonal, all_pairs = k[~torch.eye(6, dtype=torch.bool)].mean(), k.mean()
    assert 2 * (off_diagonal - all_pairs).item() < 0  # E_xx + E_yy - 2 E_xy(all pairs) of x vs x
