"""GN-GAN losses (spec section 4) against loop references; NE invariances; second-order GM."""

import math

import pytest
import torch

from trainables.losses import gngan_ae_loss, gngan_d_loss, gngan_g_loss, neighbor_embedding_loss


def _flat(t):
    return [[float(v) for v in row] for row in t.reshape(t.shape[0], -1)]


def _affinities(rows):
    m = len(rows)
    dist = [[math.sqrt(sum((a - b) ** 2 for a, b in zip(rows[i], rows[j]))) for j in range(m)]
            for i in range(m)]
    pairs = [dist[i][j] for i in range(m) for j in range(i + 1, m)]
    mean = sum(pairs) / len(pairs)
    var = sum((d - mean) ** 2 for d in pairs) / len(pairs)
    var = var if var > 0 else 1.0
    ker = [[1.0 / (1.0 + dist[i][j] ** 2 / (2 * var)) if i != j else 0.0 for j in range(m)]
           for i in range(m)]
    cond = [[ker[i][j] / sum(ker[i][k] for k in range(m) if k != i) for j in range(m)]
            for i in range(m)]
    return [[(cond[i][j] + cond[j][i]) / (2 * m) for j in range(m)] for i in range(m)]


def _ref_ne(z, x):
    p, q = _affinities(_flat(z)), _affinities(_flat(x))
    m = len(p)
    return sum(p[i][j] * math.log(p[i][j] / q[i][j]) for i in range(m) for j in range(m) if i != j)


@pytest.mark.parametrize("image_shape", [(2,), (3, 4, 4)])
@pytest.mark.parametrize("m,dz", [(2, 1), (3, 4), (7, 16), (7, 2)])
def test_neighbor_embedding_matches_loop_reference(m, dz, image_shape):
    gen = torch.Generator().manual_seed(13 * m + dz)
    z = torch.randn(m, dz, generator=gen, dtype=torch.float64)
    x = torch.randn(m, *image_shape, generator=gen, dtype=torch.float64)
    got = neighbor_embedding_loss(z, x)
    assert got.dim() == 0
    assert torch.allclose(got, torch.tensor(_ref_ne(z, x), dtype=torch.float64), atol=1e-12)


def test_neighbor_embedding_scale_invariant_and_detects_shuffles():
    torch.manual_seed(0)
    z = torch.randn(7, 4, dtype=torch.float64)
    for c in (0.01, 1.0, 3.7, 250.0):
        assert abs(float(neighbor_embedding_loss(z, c * z))) < 1e-6
        assert abs(float(neighbor_embedding_loss(z, (c * z).reshape(7, 1, 2, 2)))) < 1e-6
    perm = torch.tensor([1, 0, 3, 2, 5, 6, 4])
    shuffled = neighbor_embedding_loss(z, 3.7 * z[perm])
    assert shuffled > 1e-3
    assert math.isclose(float(shuffled), _ref_ne(z, 3.7 * z[perm]), rel_tol=1e-9)


def test_neighbor_embedding_equal_distances_and_gradient_only_to_images():
    # an equilateral configuration: every pairwise distance equal (variance 0) -> finite
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]], dtype=torch.float64)
    assert abs(float(neighbor_embedding_loss(z, 2 * z))) < 1e-9
    z = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    gz, gx = torch.autograd.grad(neighbor_embedding_loss(z, x), (z, x), allow_unused=True)
    assert gz is None or torch.count_nonzero(gz) == 0  # P is a detached target
    assert torch.isfinite(gx).all() and gx.abs().sum() > 0


@pytest.mark.parametrize("lambda_r", [0.0, 1.0, 0.3])
def test_ae_loss_matches_reference(lambda_r):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64)
    x_rec = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64)
    latents = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    images = torch.randn(6, 2, 3, 3, generator=gen, dtype=torch.float64)
    xf, rf = _flat(x), _flat(x_rec)
    rec = sum(sum((a - b) ** 2 for a, b in zip(xf[i], rf[i])) for i in range(3)) / 3
    ref = rec + lambda_r * _ref_ne(latents, images)
    got = gngan_ae_loss(x, x_rec, latents, images, lambda_r)
    assert torch.allclose(got, torch.tensor(ref, dtype=torch.float64), atol=1e-12)


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def _ref_d(lr, lrec, lf, alpha, kind):
    mean = lambda vals: sum(vals) / len(vals)  # noqa: E731
    if kind == "log":
        return -((1 - alpha) * mean([math.log(_sigmoid(v)) for v in lr])
                 + alpha * mean([math.log(_sigmoid(v)) for v in lrec])
                 + mean([math.log(1 - _sigmoid(v)) for v in lf]))
    return ((1 - alpha) * mean([max(0.0, 1 - v) for v in lr])
            + alpha * mean([max(0.0, 1 - v) for v in lrec])
            + mean([max(0.0, 1 + v) for v in lf]))


@pytest.mark.parametrize("kind", ["log", "hinge"])
@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.5])
@pytest.mark.parametrize("n", [2, 3, 7])
def test_d_loss_matches_reference(n, alpha, kind):
    gen = torch.Generator().manual_seed(n)
    lr = torch.randn(n, generator=gen, dtype=torch.float64) * 2
    lrec = torch.randn(n, 1, generator=gen, dtype=torch.float64) * 2
    lf = torch.randn(n + 1, generator=gen, dtype=torch.float64) * 2
    ref = _ref_d(lr.tolist(), lrec.flatten().tolist(), lf.tolist(), alpha, kind)
    got = gngan_d_loss(lr, lrec, lf, alpha=alpha, kind=kind)
    assert torch.allclose(got, torch.tensor(ref, dtype=torch.float64), atol=1e-12)


def test_d_loss_defaults_and_validation():
    lr, lf = torch.tensor([0.3, -1.0]), torch.tensor([2.0, 0.1])
    assert torch.allclose(gngan_d_loss(lr, lr, lf), gngan_d_loss(lr, lr, lf, alpha=0.05, kind="log"))
    with pytest.raises(ValueError, match="hinge.*log|log.*hinge"):
        gngan_d_loss(lr, lr, lf, kind="wgan")
    with pytest.raises(ValueError, match="alpha"):
        gngan_d_loss(lr, lr, lf, alpha=1.5)
    with pytest.raises(ValueError, match="logit_fake"):
        gngan_d_loss(lr, lr, torch.randn(2, 3))


W = torch.tensor([0.7, -0.4, 0.2, 1.1], dtype=torch.float64)
V = torch.tensor([-0.3, 0.5, 0.9, 0.1], dtype=torch.float64)


def _score_fn(x):
    """A nonlinear per-sample critic D(x) = tanh(w.x) + 0.5 (v.x)^2 on flattened inputs."""
    f = x.reshape(x.shape[0], -1)
    return torch.tanh(f @ W) + 0.5 * (f @ V) ** 2


def _ref_g(real_rows, fake_rows, lm1, lm2):
    w, v = W.tolist(), V.tolist()

    def stats(rows):
        s, norms, dots = [], [], []
        for r in rows:
            a = sum(wi * ri for wi, ri in zip(w, r))
            b = sum(vi * ri for vi, ri in zip(v, r))
            s.append(math.tanh(a) + 0.5 * b * b)
            g = [(1 - math.tanh(a) ** 2) * wi + b * vi for wi, vi in zip(w, v)]
            norms.append(math.sqrt(sum(gi * gi for gi in g)))
            dots.append(abs(sum(gi * ri for gi, ri in zip(g, r))))
        return [sum(t) / len(t) for t in (s, norms, dots)]

    sr, nr, dr = stats(real_rows)
    sf, nf, df = stats(fake_rows)
    return abs(sr - sf) + lm1 * (nr - nf) ** 2 + lm2 * (dr - df) ** 2


@pytest.mark.parametrize("lm1,lm2", [(1.0, 1.0), (0.1, 0.1), (0.0, 2.0), (3.0, 0.0)])
@pytest.mark.parametrize("n_real,n_fake", [(2, 2), (3, 7), (7, 3)])
def test_g_loss_matches_reference_and_is_second_order(n_real, n_fake, lm1, lm2):
    gen = torch.Generator().manual_seed(100 * n_real + n_fake)
    real = torch.randn(n_real, 1, 2, 2, generator=gen, dtype=torch.float64)
    fake = torch.randn(n_fake, 1, 2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    loss = gngan_g_loss(_score_fn, real, fake, lm1, lm2)
    ref = _ref_g(_flat(real), _flat(fake.detach()), lm1, lm2)
    assert torch.allclose(loss, torch.tensor(ref, dtype=torch.float64), atol=1e-12)
    # d L_G / d fake against central finite differences of the loop reference: the matching
    # terms depend on fake through grad D(fake), so this only agrees with second-order flow.
    (g_fake,) = torch.autograd.grad(loss, fake)
    base, h = _flat(fake.detach()), 1e-6
    fd = []
    for i in range(n_fake):
        for q in range(4):
            plus = [row[:] for row in base]
            minus = [row[:] for row in base]
            plus[i][q] += h
            minus[i][q] -= h
            fd.append((_ref_g(_flat(real), plus, lm1, lm2)
                       - _ref_g(_flat(real), minus, lm1, lm2)) / (2 * h))
    fd = torch.tensor(fd, dtype=torch.float64).reshape(n_fake, 1, 2, 2)
    assert torch.allclose(g_fake, fd, atol=1e-6, rtol=1e-5)


def test_g_loss_reaches_generator_parameters_not_real():
    torch.manual_seed(1)
    theta = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)  # a linear "generator"
    z = torch.randn(5, 4, dtype=torch.float64)
    real = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    fake = z @ theta
    # only the matching term (lambda_m1) and the score term: the norm term needs 2nd order
    loss = gngan_g_loss(_score_fn, real, fake, 1.0, 0.0)
    g_theta, g_real = torch.autograd.grad(loss, (theta, real), allow_unused=True)
    assert g_real is None
    assert torch.isfinite(g_theta).all() and g_theta.abs().sum() > 0
    # a fake that does not require grad still works (differentiated as a detached copy)
    plain = gngan_g_loss(_score_fn, real, fake.detach(), 1.0, 1.0)
    assert torch.isfinite(plain) and plain.dim() == 0


def test_g_loss_validation():
    x = torch.randn(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="fake"):
        gngan_g_loss(_score_fn, x, torch.randn(3, 5, dtype=torch.float64), 1.0, 1.0)
    with pytest.raises(ValueError, match="score_fn"):
        gngan_g_loss(lambda t: t.sum(), x, x, 1.0, 1.0)
    with pytest.raises(ValueError, match="lambda_m1"):
        gngan_g_loss(_score_fn, x, x, -1.0, 1.0)
    with pytest.raises(ValueError, match="lambda_r"):
        gngan_ae_loss(x, x, x, x, -0.5)
    with pytest.raises(ValueError, match="x_rec"):
        gngan_ae_loss(x, torch.randn(3, 5), x, x, 1.0)
    with pytest.raises(ValueError, match="z"):
        neighbor_embedding_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="x"):
        neighbor_embedding_loss(torch.randn(4, 3), torch.randn(5, 3))
