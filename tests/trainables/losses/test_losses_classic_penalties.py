"""Classic GAN baselines (spec section 6) and the gradient penalty against loop references."""

import math

import pytest
import torch

from trainables.losses import (gradient_penalty, hinge_d_loss, hinge_g_loss, nsgan_d_loss,
                               nsgan_g_loss, wgan_d_loss, wgan_g_loss)


def _mean(vals):
    return sum(vals) / len(vals)


def _softplus(v):
    return math.log(1.0 + math.exp(v))


REFS = {
    "nsgan": (lambda r, f: _mean([_softplus(-v) for v in r]) + _mean([_softplus(v) for v in f]),
              lambda f: _mean([_softplus(-v) for v in f])),
    "hinge": (lambda r, f: _mean([max(0.0, 1 - v) for v in r]) + _mean([max(0.0, 1 + v) for v in f]),
              lambda f: -_mean(f)),
    "wgan": (lambda r, f: _mean(f) - _mean(r), lambda f: -_mean(f)),
}
LOSSES = {"nsgan": (nsgan_d_loss, nsgan_g_loss), "hinge": (hinge_d_loss, hinge_g_loss),
          "wgan": (wgan_d_loss, wgan_g_loss)}


@pytest.mark.parametrize("column", [False, True])
@pytest.mark.parametrize("n", [2, 3, 7])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_classic_losses_match_reference(name, n, column):
    gen = torch.Generator().manual_seed(n)
    d_real = torch.randn(n, generator=gen, dtype=torch.float64) * 2
    d_fake = torch.randn(n + 2, generator=gen, dtype=torch.float64) * 2
    ref_d = REFS[name][0](d_real.tolist(), d_fake.tolist())
    ref_g = REFS[name][1](d_fake.tolist())
    if column:
        d_real, d_fake = d_real[:, None], d_fake[:, None]
    d_fn, g_fn = LOSSES[name]
    got_d, got_g = d_fn(d_real, d_fake), g_fn(d_fake)
    assert got_d.dim() == 0 and got_g.dim() == 0
    assert torch.allclose(got_d, torch.tensor(ref_d, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(got_g, torch.tensor(ref_g, dtype=torch.float64), atol=1e-12)


def test_nsgan_is_stable_for_large_logits():
    big = torch.tensor([200.0, -200.0], requires_grad=True)
    loss = nsgan_d_loss(big, big) + nsgan_g_loss(big)
    (g,) = torch.autograd.grad(loss, big)
    assert torch.isfinite(loss) and torch.isfinite(g).all()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_classic_validation(name):
    d_fn, g_fn = LOSSES[name]
    with pytest.raises(ValueError, match="d_fake"):
        d_fn(torch.randn(3), torch.randn(3, 2))
    with pytest.raises(ValueError, match="d_real"):
        d_fn(torch.randn(3, 1, 1), torch.randn(3))
    with pytest.raises(ValueError, match="d_fake"):
        g_fn(torch.randn(0))


@pytest.mark.parametrize("shape", [(5, 3), (4, 1, 2, 2)])
def test_gradient_penalty_linear_critic(shape):
    torch.manual_seed(0)
    d = math.prod(shape[1:])
    w = torch.randn(d, dtype=torch.float64)
    real = torch.randn(*shape, dtype=torch.float64)
    fake = torch.randn(*shape, dtype=torch.float64)
    unit = w / w.norm()
    critic = lambda x: x.reshape(x.shape[0], -1) @ unit  # noqa: E731
    assert abs(float(gradient_penalty(critic, real, fake))) < 1e-12
    double = lambda x: (x.reshape(x.shape[0], -1) @ (2 * unit))[:, None]  # noqa: E731
    assert torch.allclose(gradient_penalty(double, real, fake),
                          torch.tensor(1.0, dtype=torch.float64), atol=1e-12)


def _critic(w, x):
    """Nonlinear critic D(x) = sum_k tanh(w_k x_k) + 0.3 (sum_k x_k)^2 on flattened x."""
    f = x.reshape(x.shape[0], -1)
    return torch.tanh(f * w).sum(dim=1) + 0.3 * f.sum(dim=1) ** 2


def _ref_gp(w, real, fake, u):
    """Loop reference with central finite differences for the input gradient."""
    n = real.shape[0]
    rf, ff, wl = real.reshape(n, -1).tolist(), fake.reshape(n, -1).tolist(), w.tolist()

    def crit(row):
        return sum(math.tanh(wk * xk) for wk, xk in zip(wl, row)) + 0.3 * sum(row) ** 2

    total, h = 0.0, 1e-6
    for i in range(n):
        xhat = [u[i] * a + (1 - u[i]) * b for a, b in zip(rf[i], ff[i])]
        grad = []
        for q in range(len(xhat)):
            plus, minus = xhat[:], xhat[:]
            plus[q] += h
            minus[q] -= h
            grad.append((crit(plus) - crit(minus)) / (2 * h))
        total += (math.sqrt(sum(g * g for g in grad)) - 1) ** 2
    return total / n


@pytest.mark.parametrize("shape", [(2, 3), (3, 1, 2, 2), (7, 4)])
def test_gradient_penalty_nonlinear_critic_matches_reference(shape):
    gen = torch.Generator().manual_seed(shape[0])
    d = math.prod(shape[1:])
    w = torch.randn(d, generator=gen, dtype=torch.float64, requires_grad=True)
    real = torch.randn(*shape, generator=gen, dtype=torch.float64)
    fake = torch.randn(*shape, generator=gen, dtype=torch.float64)
    u = torch.rand(shape[0], generator=gen, dtype=torch.float64)
    got = gradient_penalty(lambda x: _critic(w, x), real, fake, u=u)
    ref = _ref_gp(w.detach(), real, fake, u.tolist())
    assert torch.allclose(got, torch.tensor(ref, dtype=torch.float64), atol=1e-8)
    # create_graph=True: the penalty trains the critic (d GP / d w against finite differences)
    (g_w,) = torch.autograd.grad(got, w)
    h = 1e-5
    for q in range(d):
        e = torch.zeros(d, dtype=torch.float64)
        e[q] = h
        w_plus, w_minus = (w + e).detach(), (w - e).detach()
        fd = (gradient_penalty(lambda x: _critic(w_plus, x), real, fake, u=u)
              - gradient_penalty(lambda x: _critic(w_minus, x), real, fake, u=u)).detach() / (2 * h)
        assert math.isclose(float(g_w[q]), float(fd), rel_tol=1e-5, abs_tol=1e-7)


def test_gradient_penalty_random_u_and_endpoints():
    torch.manual_seed(0)
    w = torch.randn(3, dtype=torch.float64)
    real = torch.randn(4, 3, dtype=torch.float64)
    fake = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    crit = lambda x: _critic(w, x)  # noqa: E731
    # u = 1 evaluates at the reals, u = 0 at the fakes
    at_real = gradient_penalty(crit, real, fake, u=torch.ones(4, dtype=torch.float64))
    assert math.isclose(at_real.item(), _ref_gp(w, real, real, [1.0] * 4), rel_tol=1e-6)
    at_fake = gradient_penalty(crit, real, fake, u=torch.zeros(4, dtype=torch.float64))
    assert math.isclose(at_fake.item(), _ref_gp(w, fake.detach(), fake.detach(), [1.0] * 4),
                        rel_tol=1e-6)
    torch.manual_seed(3)
    a = gradient_penalty(crit, real, fake)
    torch.manual_seed(3)
    u = torch.rand(4, dtype=torch.float64)
    assert torch.allclose(a, gradient_penalty(crit, real, fake, u=u))
    # the penalty does not backpropagate into the generator's output
    assert torch.autograd.grad(a, fake, allow_unused=True)[0] is None


def test_gradient_penalty_validation():
    x = torch.randn(4, 3)
    crit = lambda t: t.sum(dim=1)  # noqa: E731
    with pytest.raises(ValueError, match="u"):
        gradient_penalty(crit, x, x, u=torch.rand(3))
    with pytest.raises(ValueError, match="u"):
        gradient_penalty(crit, x, x, u=torch.full((4,), 1.5))
    with pytest.raises(ValueError, match="fake"):
        gradient_penalty(crit, x, torch.randn(4, 2))
    with pytest.raises(ValueError, match="critic_fn"):
        gradient_penalty(lambda t: t, x, x)
