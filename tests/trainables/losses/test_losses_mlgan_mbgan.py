"""MLGAN and MBGAN losses against loop references; MBGAN's detached margin."""

import math

import pytest
import torch

from trainables.losses import mbgan_d_loss, mbgan_g_loss, mlgan_d_loss, mlgan_g_loss

SHAPES = [(2, 1), (3, 4), (7, 16), (7, 1)]


def _sq(a, b):
    return sum((float(a[k]) - float(b[k])) ** 2 for k in range(len(a)))


def _l1(a, b):
    return sum(abs(float(a[k]) - float(b[k])) for k in range(len(a)))


def _ref_mlgan(x, y, lam, beta):
    n, k = x.shape
    intra = 0.0
    for e in (x, y):
        terms = [_sq(e[i], e[j]) for i in range(n) for j in range(n) if i != j]
        intra += sum(terms) / len(terms)
    inter = sum(_l1(x[i], y[i]) for i in range(n)) / n
    mu_data = [1.0 / k] * k
    center = (sum(_sq(x[i], mu_data) for i in range(n)) / n
              + sum(_sq(y[i], [0.0] * k) for i in range(n)) / n)
    return intra - lam * inter + beta * center, inter


@pytest.mark.parametrize("lam,beta", [(0.5, 0.0), (1.0, 10.0), (1.0, 20.0), (0.0, 0.5)])
@pytest.mark.parametrize("n,k", SHAPES)
def test_mlgan_matches_loop_reference(n, k, lam, beta):
    gen = torch.Generator().manual_seed(17 * n + k)
    x = torch.randn(n, k, generator=gen, dtype=torch.float64)
    y = torch.randn(n, k, generator=gen, dtype=torch.float64) * 0.5 + 0.3
    ref_d, ref_g = _ref_mlgan(x, y, lam, beta)
    assert torch.allclose(mlgan_d_loss(x, y, lam, beta=beta),
                          torch.tensor(ref_d, dtype=torch.float64), atol=1e-12, rtol=1e-10)
    assert torch.allclose(mlgan_g_loss(x, y), torch.tensor(ref_g, dtype=torch.float64),
                          atol=1e-12, rtol=1e-10)


def _ref_mlgan_paper_sums(x, y, lam, beta):
    """Eqs 7-12 as the paper writes them: sums over S_data, S_g (all pairs), DS and the batch."""
    n, k = x.shape
    intra = sum(_sq(e[i], e[j]) for e in (x, y) for i in range(n) for j in range(n))
    inter = sum(_l1(x[i], y[i]) for i in range(n))
    center = sum(_sq(x[i], [1.0 / k] * k) for i in range(n)) + sum(_sq(y[i], [0.0] * k) for i in range(n))
    return intra - lam * inter + beta * center


@pytest.mark.parametrize("lam,beta", [(0.5, 0.0), (1.0, 20.0)])
@pytest.mark.parametrize("n,k", SHAPES)
def test_mlgan_sum_reduction_is_the_papers_sums_over_the_batch_size(n, k, lam, beta):
    gen = torch.Generator().manual_seed(5 * n + k)
    x = torch.randn(n, k, generator=gen, dtype=torch.float64)
    y = torch.randn(n, k, generator=gen, dtype=torch.float64) * 0.5 + 0.3
    ref = _ref_mlgan_paper_sums(x, y, lam, beta) / n
    assert torch.allclose(mlgan_d_loss(x, y, lam, beta=beta, reduction="sum"),
                          torch.tensor(ref, dtype=torch.float64), atol=1e-12, rtol=1e-10)
    if n > 2:  # with more than two points the relative weights differ from the means'
        assert not torch.allclose(mlgan_d_loss(x, y, lam, beta=beta, reduction="sum"), mlgan_d_loss(x, y, lam, beta=beta))


def test_mlgan_default_beta_is_zero():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    assert torch.allclose(mlgan_d_loss(x, y, 0.5), mlgan_d_loss(x, y, 0.5, beta=0.0))
    assert not torch.allclose(mlgan_d_loss(x, y, 0.5), mlgan_d_loss(x, y, 0.5, beta=1.0))


def test_mlgan_validation():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="e_fake"):
        mlgan_d_loss(x, torch.randn(4, 2), 0.5)
    with pytest.raises(ValueError, match="e_fake"):
        mlgan_g_loss(x, torch.randn(5, 3))
    with pytest.raises(ValueError, match="e_real"):
        mlgan_d_loss(torch.randn(1, 3), torch.randn(1, 3), 0.5)
    with pytest.raises(ValueError, match="beta"):
        mlgan_d_loss(x, x, 0.5, beta=-1.0)
    with pytest.raises(ValueError, match=r"reduction must be one of \['mean', 'sum'\], got 'max'"):
        mlgan_d_loss(x, x, 0.5, reduction="max")


def _ref_mbgan(e_xi, e_xj, e_fake, x_j, fake, alpha):
    n = e_xi.shape[0]
    xj_flat, f_flat = x_j.reshape(n, -1), fake.reshape(n, -1)
    d_terms, g_terms = [], []
    for i in range(n):
        p = xj_flat.shape[1]
        h = alpha * sum(abs(float(xj_flat[i, q]) - float(f_flat[i, q])) for q in range(p)) / p
        d_pos = math.sqrt(_sq(e_xi[i], e_xj[i]))
        d_neg = math.sqrt(_sq(e_xi[i], e_fake[i]))
        d_terms.append(max(0.0, h + d_pos - d_neg))
        g_terms.append(math.sqrt(_sq(e_xj[i], e_fake[i])))
    return sum(d_terms) / n, sum(g_terms) / n


@pytest.mark.parametrize("alpha", [0.0, 0.2, 2.0, 20.0])
@pytest.mark.parametrize("sample_shape", [(2,), (3, 4, 4)])
@pytest.mark.parametrize("n,k", SHAPES)
def test_mbgan_matches_loop_reference(n, k, sample_shape, alpha):
    gen = torch.Generator().manual_seed(31 * n + k)
    e_xi, e_xj, e_fake = (torch.randn(n, k, generator=gen, dtype=torch.float64) for _ in range(3))
    x_j = torch.rand(n, *sample_shape, generator=gen, dtype=torch.float64) * 0.2
    fake = torch.rand(n, *sample_shape, generator=gen, dtype=torch.float64) * 0.2
    ref_d, ref_g = _ref_mbgan(e_xi, e_xj, e_fake, x_j, fake, alpha)
    got_d = mbgan_d_loss(e_xi, e_xj, e_fake, x_j, fake, alpha)
    got_g = mbgan_g_loss(e_xj, e_fake)
    assert got_d.dim() == 0
    assert torch.allclose(got_d, torch.tensor(ref_d, dtype=torch.float64), atol=1e-12, rtol=1e-10)
    assert torch.allclose(got_g, torch.tensor(ref_g, dtype=torch.float64), atol=1e-12, rtol=1e-10)


def test_mbgan_margin_carries_no_gradient():
    torch.manual_seed(0)
    n, k = 5, 4
    e_xi, e_xj, e_fake = (torch.randn(n, k, dtype=torch.float64, requires_grad=True)
                          for _ in range(3))
    x_j = torch.rand(n, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    fake = torch.rand(n, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    alpha = 200.0  # every hinge active, so a non-detached margin would have a gradient
    loss = mbgan_d_loss(e_xi, e_xj, e_fake, x_j, fake, alpha)
    g_xj, g_fake, g_e = torch.autograd.grad(loss, (x_j, fake, e_fake), allow_unused=True)
    assert g_xj is None or torch.count_nonzero(g_xj) == 0
    assert g_fake is None or torch.count_nonzero(g_fake) == 0
    assert g_e is not None and g_e.abs().sum() > 0  # the embeddings do train
    # control: the same hinge with an attached margin has a nonzero pixel gradient
    h = alpha * (x_j - fake).abs().reshape(n, -1).mean(dim=1)
    attached = torch.relu(h + (e_xi - e_xj).norm(dim=1) - (e_xi - e_fake).norm(dim=1)).mean()
    assert torch.allclose(attached, loss)
    (g_fake_attached,) = torch.autograd.grad(attached, fake)
    assert g_fake_attached.abs().sum() > 0


def test_mbgan_validation():
    e = torch.randn(4, 3)
    x = torch.rand(4, 2)
    with pytest.raises(ValueError, match="alpha"):
        mbgan_d_loss(e, e, e, x, x, -1.0)
    with pytest.raises(ValueError, match="fake"):
        mbgan_d_loss(e, e, e, x, torch.rand(4, 3), 20.0)
    with pytest.raises(ValueError, match="x_j"):
        mbgan_d_loss(e, e, e, torch.rand(5, 2), torch.rand(5, 2), 20.0)
    with pytest.raises(ValueError, match="e_fake"):
        mbgan_d_loss(e, e, torch.randn(4, 2), x, x, 20.0)
    with pytest.raises(ValueError, match="e_fake"):
        mbgan_g_loss(e, torch.randn(3, 3))
