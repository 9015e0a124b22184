"""Spectral normalisation: PICO/PIM estimates against dense operator norms, module semantics."""

import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from trainables.nets.spectral import SpectralNormed, pico_sigma, pim_sigma, spectral_norm



def dense_conv_matrix(weight, input_shape, stride, padding):
    """The convolution as a dense matrix: column k = conv2d(k-th basis input), flattened
    (all basis inputs go through conv2d as one batch)."""
    n_in = input_shape[0] * input_shape[1] * input_shape[2]
    basis = torch.eye(n_in, dtype=weight.dtype).reshape(n_in, *input_shape)
    return F.conv2d(basis, weight, None, stride, padding).reshape(n_in, -1).t()


def true_conv_norm(weight, input_shape, stride, padding):
    return torch.linalg.matrix_norm(dense_conv_matrix(weight, input_shape, stride, padding), ord=2).item()


CONV_CASES = [  # (kernel, stride, padding, input_shape)
    (3, 1, 1, (3, 6, 6)),
    (3, 2, 1, (3, 6, 6)),  # adjoint needs output_padding = 1
    (4, 2, 1, (3, 6, 6)),  # output_padding = 0
    (3, 2, 0, (3, 7, 5)),  # odd, non-square input
]


@pytest.mark.parametrize("kernel,stride,padding,input_shape", CONV_CASES)
def test_pico_converges_to_operator_norm(kernel, stride, padding, input_shape):
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(5, input_shape[0], kernel, kernel, generator=generator, dtype=torch.float64)
    true = true_conv_norm(weight, input_shape, stride, padding)
    estimate = pico_sigma(weight, input_shape, stride, padding, n_iter=300, generator=generator).item()
    assert abs(estimate - true) / true < 0.01


def test_pim_differs_from_operator_norm_of_random_kernel():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 3, 3, 3, generator=generator, dtype=torch.float64)
    true = true_conv_norm(weight, (3, 6, 6), 1, 1)
    pim = pim_sigma(weight, n_iter=300, generator=generator).item()
    assert abs(pim - true) / true > 0.01


def test_pim_differs_on_constant_taps():
    # Every tap equal: on a constant image the conv multiplies by ~9 * a, while the reshaped
    # (out, C*9) matrix has norm 3 * ||a||: PIM underestimates by about a factor 3.
    a = torch.tensor([[1.0, -2.0, 0.5], [0.3, 1.0, 2.0]], dtype=torch.float64)
    weight = a[:, :, None, None].expand(2, 3, 3, 3).contiguous()
    true = true_conv_norm(weight, (3, 6, 6), 1, 1)
    assert pim_sigma(weight, n_iter=200).item() < 0.5 * true
    assert abs(pico_sigma(weight, (3, 6, 6), 1, 1, n_iter=200).item() - true) / true < 0.01


def test_pim_sigma_is_matrix_norm():
    torch.manual_seed(0)
    weight = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    true = torch.linalg.matrix_norm(weight.reshape(6, -1), ord=2).item()
    assert abs(pim_sigma(weight, n_iter=300).item() - true) / true < 1e-3


def _train_forwards(module, x, n):
    module.train()
    with torch.no_grad():
        for _ in range(n):
            module(x)


@pytest.mark.parametrize("method", ["pim", "pico"])
def test_linear_effective_weight_has_unit_norm(method):
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(7, 5), method)
    _train_forwards(layer, torch.randn(2, 7), 100)
    assert abs(torch.linalg.matrix_norm(layer.effective_weight().detach(), ord=2).item() - 1.0) < 1e-3


def test_pim_conv_effective_weight_has_unit_matrix_norm():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Conv2d(3, 4, 3, 1, 1), "pim")
    _train_forwards(layer, torch.randn(1, 3, 6, 6), 100)
    w = layer.effective_weight().detach()
    assert abs(torch.linalg.matrix_norm(w.reshape(4, -1), ord=2).item() - 1.0) < 1e-3


@pytest.mark.parametrize("stride,kernel", [(1, 3), (2, 4)])
def test_pico_conv_effective_operator_has_unit_norm(stride, kernel):
    torch.manual_seed(0)
    layer = spectral_norm(nn.Conv2d(3, 4, kernel, stride, 1).double(), "pico", input_shape=(3, 6, 6))
    _train_forwards(layer, torch.randn(1, 3, 6, 6, dtype=torch.float64), 200)
    w = layer.effective_weight().detach()
    assert abs(true_conv_norm(w, (3, 6, 6), stride, 1) - 1.0) < 0.01


def test_linear_pico_equals_pim():
    torch.manual_seed(0)
    linear = nn.Linear(6, 4)
    torch.manual_seed(1)
    pim = spectral_norm(copy.deepcopy(linear), "pim")
    torch.manual_seed(1)
    pico = spectral_norm(copy.deepcopy(linear), "pico")
    x = torch.randn(3, 6)
    assert torch.equal(pim(x), pico(x))


def test_buffers_update_only_in_training_mode():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Conv2d(2, 3, 3, 1, 1), "pico", input_shape=(2, 5, 5))
    layer.vec_out.normal_()  # move the state away from the warm-up fixed point
    x = torch.randn(2, 2, 5, 5)
    layer.eval()
    before = layer.vec_out.clone()
    layer(x)
    assert torch.equal(layer.vec_out, before)
    layer.train()
    layer(x)
    assert not torch.equal(layer.vec_out, before)


def test_gradient_flows_through_sigma():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(5, 4), "pim").eval()
    x = torch.randn(3, 5)
    layer(x).pow(2).sum().backward()
    # Reference: sigma = sum_ij u_i W_ij v_j written as explicit loops, gradient through W.
    w = layer.module.weight.detach().clone().requires_grad_(True)
    u, v = layer.vec_out, layer.vec_in
    sigma = sum(u[i] * w[i, j] * v[j] for i in range(4) for j in range(5))
    y = x @ (w / sigma).t() + layer.module.bias.detach()
    y.pow(2).sum().backward()
    assert torch.allclose(layer.module.weight.grad, w.grad, atol=1e-6)
    # Not the same as treating sigma as a constant.
    w_const = layer.module.weight.detach().clone().requires_grad_(True)
    (x @ (w_const / sigma.detach()).t()).pow(2).sum().backward()
    assert not torch.allclose(w.grad, w_const.grad, atol=1e-4)


@pytest.mark.parametrize("method", ["pim", "pico"])
def test_two_forwards_then_backward_and_double_backward(method):
    torch.manual_seed(0)
    net = nn.Sequential(spectral_norm(nn.Conv2d(2, 3, 3, 2, 1), method, input_shape=(2, 6, 6)),
                        nn.Tanh(), nn.Flatten(), spectral_norm(nn.Linear(27, 1), method))
    real, fake = torch.randn(2, 2, 6, 6), torch.randn(2, 2, 6, 6, requires_grad=True)
    loss = net(real).mean() - net(fake).mean()  # buffers updated in between
    (grad,) = torch.autograd.grad(net(fake).sum(), fake, create_graph=True)
    (loss + grad.norm()).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_state_dict_round_trip_resumes_bit_for_bit():
    def make(seed):
        torch.manual_seed(seed)
        return nn.Sequential(spectral_norm(nn.Conv2d(2, 4, 3, 1, 1), "pico", input_shape=(2, 5, 5)),
                             nn.ReLU(), nn.Flatten(), spectral_norm(nn.Linear(100, 3), "pim"))

    def steps(net, opt, n):
        outs = []
        for k in range(n):
            torch.manual_seed(100 + k)
            out = net(torch.randn(4, 2, 5, 5))
            opt.zero_grad()
            out.pow(2).mean().backward()
            opt.step()
            outs.append(out.detach())
        return outs

    a = make(0)
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    steps(a, opt_a, 3)
    saved = copy.deepcopy((a.state_dict(), opt_a.state_dict()))
    assert {"0.vec_in", "0.vec_out", "3.vec_in", "3.vec_out"} <= set(saved[0])
    b = make(1)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    b.load_state_dict(saved[0])
    opt_b.load_state_dict(saved[1])
    for out_a, out_b in zip(steps(a, opt_a, 3), steps(b, opt_b, 3)):
        assert torch.equal(out_a, out_b)
    assert torch.equal(a[0].vec_in, b[0].vec_in)


def test_none_returns_module_itself():
    layer = nn.Linear(3, 2)
    assert spectral_norm(layer, "none") is layer


def test_bad_arguments():
    with pytest.raises(ValueError, match="'none', 'pim', 'pico'"):
        spectral_norm(nn.Linear(3, 2), "frobenius")
    with pytest.raises(ValueError, match="input_shape"):
        spectral_norm(nn.Conv2d(3, 2, 3), "pico")
    with pytest.raises(ValueError, match="input_shape"):
        spectral_norm(nn.Conv2d(3, 2, 3), "pico", input_shape=(4, 8, 8))  # wrong channel count
    with pytest.raises(ValueError, match="module"):
        spectral_norm(nn.ConvTranspose2d(3, 2, 3), "pim")
    with pytest.raises(ValueError, match="n_power_iterations"):
        spectral_norm(nn.Linear(3, 2), "pim", n_power_iterations=0)
    layer = spectral_norm(nn.Conv2d(3, 2, 3, 1, 1), "pico", input_shape=(3, 8, 8))
    assert isinstance(layer, SpectralNormed)
    with pytest.raises(ValueError, match="input_shape"):
        layer(torch.randn(1, 3, 6, 6))


def _jacobian_norm(net, x):
    """Spectral norm of the dense Jacobian of ``net`` at one input ``x`` (shape (1, ...))."""
    jac = torch.autograd.functional.jacobian(lambda v: net(v.reshape(x.shape)).reshape(-1), x.reshape(-1))
    return torch.linalg.matrix_norm(jac, ord=2).item()


@pytest.mark.parametrize("scale", [1.0, 64 ** 0.125, 0.5])
def test_sn_scale_sets_each_layer_norm_and_the_lipschitz_bound(scale):
    """``net.sn_scale`` (official repulsive MMD-GAN: act_k = 64 ** (1/8) on every SN layer):
    every SN layer's exact norm is ``scale``, the product over the L layers is ``scale ** L``,
    and with zero biases and leaky ReLUs (positively homogeneous) D's dense Jacobian is exactly
    ``scale ** L`` times the unscaled one, at or below the bound ``scale ** L``."""
    from trainables.nets.build import build_nets

    torch.manual_seed(0)
    nets = {s: build_nets("mlp_mnist", data_shape=(1, 4, 4), z_dim=3, embed_dim=5, sn="pim", sn_scale=s,
                          g_hidden=(6,), d_hidden=(9, 7)) for s in (1.0, scale)}
    plain, scaled = (nets[s]["D"].double() for s in (1.0, scale))
    scaled.load_state_dict(plain.state_dict())  # same weights and power-iteration vectors
    layers = [m for m in scaled.modules() if isinstance(m, SpectralNormed)]
    assert len(layers) == 3 and all(m.scale == scale for m in layers)
    for m in (plain, scaled):
        for layer in (l for l in m.modules() if isinstance(l, SpectralNormed)):
            with torch.no_grad():
                layer.module.bias.zero_()
    _train_forwards(plain, torch.randn(4, 1, 4, 4, dtype=torch.float64), 200)
    scaled.load_state_dict(plain.state_dict())
    plain.eval(), scaled.eval()
    norms = [torch.linalg.matrix_norm(m.effective_weight().detach(), ord=2).item() for m in layers]
    assert norms == pytest.approx([scale] * 3, rel=1e-6)
    assert math.prod(norms) == pytest.approx(scale ** 3, rel=1e-6)
    for _ in range(3):
        x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
        base, lip = _jacobian_norm(plain, x), _jacobian_norm(scaled, x)
        assert lip == pytest.approx(scale ** 3 * base, rel=1e-9)
        assert lip <= scale ** 3 * (1 + 1e-6)


def test_sn_scale_reaches_d_from_the_config_and_mmd_image_presets():
    from trainables.config import resolve_config
    from trainables.gans.presets import MMD_SN_SCALE
    from trainables.loop import GanRun

    assert MMD_SN_SCALE == 64 ** 0.125
    for gan in ("mmd_rep", "mmd_rbf", "mmd_rq"):
        assert resolve_config({"gan": gan, "data": {"name": "cifar10"}}).net.sn_scale == MMD_SN_SCALE
    assert resolve_config({"gan": "nsgan", "data": {"name": "cifar10"}}).net.sn_scale == 1.0
    assert resolve_config({"gan": "mmd_rep", "data": {"name": "grid25"}}).net.sn_scale == 1.0
    assert resolve_config({"gan": "mmd_rep", "data": {"name": "mnist"}}).net.sn_scale == 1.0  # MLPs, not the conv D
    run = GanRun({"gan": "mmd_rep", "data": {"name": "grid25"}, "net": {"sn": "pim", "sn_scale": 2.0},
                  "device": "cpu"})
    assert {m.scale for m in run.nets["D"].modules() if isinstance(m, SpectralNormed)} == {2.0}
    with pytest.raises(ValueError, match="sn_scale"):
        resolve_config({"gan": "mmd_rep", "net": {"sn_scale": 0}})
