"""Networks: shapes for every architecture, heads, SN variants, layer structure, errors."""

import pytest
import torch
import torch.nn as nn

from trainables.nets import (ARCHS, MLP, SNDCGANCritic, SpectralNormed, arch_kwargs_of, build_nets,
                             embedding_head)



SHAPE_CASES = [  # (arch, data_shape)
    ("toy_triplet", (2,)),
    ("toy_gngan", (2,)),
    ("toy_pacgan", (2,)),
    ("mlp_mnist", (1, 32, 32)),
    ("mlp_mnist", (3, 32, 32)),
    ("sndcgan", (1, 32, 32)),
    ("sndcgan", (3, 32, 32)),
    ("sndcgan", (1, 48, 48)),
    ("sndcgan", (3, 48, 48)),
    ("dcgan64", (1, 64, 64)),
    ("dcgan64", (3, 64, 64)),
    ("dcgan64", (3, 32, 32)),
]


@pytest.mark.parametrize("arch,data_shape", SHAPE_CASES)
def test_shapes(arch, data_shape):
    torch.manual_seed(0)
    z_dim, n = 8, 3
    z = torch.randn(n, z_dim)
    for k in (1, 16, 64):
        nets = build_nets(arch, data_shape=data_shape, z_dim=z_dim, embed_dim=k, with_encoder=(k == 16))
        x = nets["G"](z)
        assert x.shape == (n, *data_shape)
        assert nets["D"](x).shape == (n, k)
        if k == 16:
            assert nets["E"](x).shape == (n, z_dim)
        else:
            assert "E" not in nets


@pytest.mark.parametrize("arch,data_shape", [("toy_triplet", (2,)), ("mlp_mnist", (1, 32, 32)),
                                             ("sndcgan", (3, 32, 32)), ("dcgan64", (3, 64, 64))])
def test_normalised_heads_have_unit_norm(arch, data_shape):
    x = torch.randn(4, *data_shape, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(0)
    plain = build_nets(arch, data_shape=data_shape, z_dim=4, embed_dim=16)["D"](x)
    torch.manual_seed(0)
    unit = build_nets(arch, data_shape=data_shape, z_dim=4, embed_dim=16, normalize_embedding=True)["D"](x)
    for i in range(4):
        assert abs(unit[i].norm().item() - 1.0) < 1e-5
        # Same weights, so the normalised row is the plain row rescaled.
        assert torch.allclose(unit[i] * plain[i].norm(), plain[i], atol=1e-5)
    assert not torch.allclose(plain.norm(dim=1), torch.ones(4), atol=1e-2)


def _weight_layers(module):
    return [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


@pytest.mark.parametrize("arch,data_shape", [("toy_triplet", (2,)), ("toy_gngan", (2,)), ("toy_pacgan", (2,)),
                                             ("mlp_mnist", (1, 32, 32)), ("sndcgan", (3, 32, 32)),
                                             ("sndcgan", (1, 48, 48)), ("dcgan64", (3, 64, 64))])
@pytest.mark.parametrize("sn", ["pim", "pico"])
def test_sn_variants_forward_backward(arch, data_shape, sn):
    torch.manual_seed(0)
    nets = build_nets(arch, data_shape=data_shape, z_dim=8, embed_dim=4, sn=sn)
    d, g = nets["D"], nets["G"]
    wrapped = [m for m in d.modules() if isinstance(m, SpectralNormed)]
    assert len(wrapped) == len(_weight_layers(d)) > 0  # every conv/linear layer of D
    assert not any(isinstance(m, SpectralNormed) for m in g.modules())
    before = [m.vec_out.clone() for m in wrapped]
    x = g(torch.randn(3, 8))
    loss = d(x).pow(2).mean() + d(torch.randn(3, *data_shape)).mean()
    loss.backward()
    for p in list(d.parameters()) + list(g.parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert any(not torch.equal(m.vec_out, b) for m, b in zip(wrapped, before))


def test_sndcgan_critic_layers_follow_table_s1():
    d = SNDCGANCritic((3, 48, 48), embed_dim=16, sn="pico")
    convs = [m.module for m in d.modules() if isinstance(m, SpectralNormed) and isinstance(m.module, nn.Conv2d)]
    expected = [(3, 64, 3, 1), (64, 128, 4, 2), (128, 128, 3, 1), (128, 256, 4, 2),
                (256, 256, 3, 1), (256, 512, 4, 2), (512, 512, 3, 1)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == expected
    shapes = [m.input_shape for m in d.modules() if isinstance(m, SpectralNormed) and m.input_shape]
    assert shapes == [(3, 48, 48), (64, 48, 48), (128, 24, 24), (128, 24, 24), (256, 12, 12),
                      (256, 12, 12), (512, 6, 6)]
    linear = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linear] == [(6 * 6 * 512, 16)]
    slopes = {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1}


def test_sndcgan_generator_structure():
    g = build_nets("sndcgan", data_shape=(3, 32, 32), z_dim=128, embed_dim=1)["G"]
    linear = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linear] == [(128, 4 * 4 * 512)]
    deconvs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in deconvs] == [(256, 4, 2), (128, 4, 2), (64, 4, 2)]
    assert len([m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]) == 3
    out = g.eval()(torch.randn(5, 128) * 10)
    assert out.abs().max() <= 1.0  # tanh output


def test_sndcgan_width_multiplies_every_channel_count():
    nets = build_nets("sndcgan", data_shape=(1, 32, 32), z_dim=16, embed_dim=3, width=0.25, with_encoder=True)
    deconvs = [m for m in nets["G"].modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in deconvs] == [64, 32, 16]
    assert nets["G"].project.out_features == 4 * 4 * 128
    convs = [m for m in nets["D"].modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 32, 64, 64, 128, 128]
    assert [c.out_channels for c in nets["E"].modules() if isinstance(c, nn.Conv2d)] == [16, 32, 32, 64, 64, 128, 128]
    assert nets["D"](nets["G"](torch.randn(2, 16))).shape == (2, 3)
    for bad in (0, -1, 5, True, "1"):
        with pytest.raises(ValueError, match="width"):
            build_nets("sndcgan", data_shape=(1, 32, 32), z_dim=16, embed_dim=3, width=bad)


def test_dcgan64_width_multiplies_every_channel_count():
    nets = build_nets("dcgan64", data_shape=(1, 32, 32), z_dim=16, embed_dim=3, width=0.125, with_encoder=True)
    g = nets["G"]
    assert g.project[0].out_features == 4 * 4 * 64
    deconvs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.out_channels, c.stride[0]) for c in deconvs] == [(32, 2), (16, 2), (8, 2), (1, 1)]
    for critic in (nets["D"], nets["E"]):
        convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
        assert [(c.out_channels, c.stride[0]) for c in convs] == [(8, 1), (16, 2), (32, 2), (64, 2)]
        assert [b.num_features for b in critic.modules() if isinstance(b, nn.BatchNorm2d)] == [8, 16, 32, 64]
    assert nets["D"].head[0].in_features == 64 * 4 * 4
    assert nets["D"](g(torch.randn(2, 16))).shape == (2, 3)
    for bad in (0, 5, "1"):
        with pytest.raises(ValueError, match="width"):
            build_nets("dcgan64", data_shape=(1, 32, 32), z_dim=16, embed_dim=3, width=bad)


def test_mlp_norm_batch_follows_every_hidden_layer():
    nets = build_nets("mlp_mnist", data_shape=(1, 8, 8), z_dim=4, embed_dim=3, g_hidden=(5, 6), d_hidden=(7,),
                      g_norm="batch", d_norm="batch")
    assert [m.num_features for m in nets["G"].modules() if isinstance(m, nn.BatchNorm1d)] == [5, 6]
    assert [m.num_features for m in nets["D"].modules() if isinstance(m, nn.BatchNorm1d)] == [7]
    plain = build_nets("mlp_mnist", data_shape=(1, 8, 8), z_dim=4, embed_dim=3, g_hidden=(5, 6), d_hidden=(7,))
    assert not [m for n in plain.values() for m in n.modules() if isinstance(m, nn.BatchNorm1d)]
    with pytest.raises(ValueError, match="norm"):
        build_nets("mlp_mnist", data_shape=(1, 8, 8), z_dim=4, embed_dim=3, d_norm="layer")


def _mlp_param_count(widths):
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def test_toy_and_mnist_mlp_sizes():
    nets = build_nets("toy_triplet", data_shape=(2,), z_dim=128, embed_dim=16, with_encoder=True)
    assert sum(p.numel() for p in nets["G"].parameters()) == _mlp_param_count([128, 128, 128, 128, 2])
    assert sum(p.numel() for p in nets["D"].parameters()) == _mlp_param_count([2, 32, 32, 32, 16])
    assert {type(m) for m in nets["D"].modules()} >= {nn.Tanh}
    gn = build_nets("toy_gngan", data_shape=(2,), z_dim=2, embed_dim=1, with_encoder=True)
    for name, out in (("E", 2), ("G", 2), ("D", 1)):
        assert sum(p.numel() for p in gn[name].parameters()) == _mlp_param_count([2, 64, 64, out])
        assert any(isinstance(m, nn.ReLU) for m in gn[name].modules())
    mn = build_nets("mlp_mnist", data_shape=(1, 32, 32), z_dim=128, embed_dim=16)
    assert sum(p.numel() for p in mn["G"].parameters()) == _mlp_param_count([128, 256, 512, 1024, 1024])
    assert sum(p.numel() for p in mn["D"].parameters()) == _mlp_param_count([1024, 1024, 512, 256, 16])
    assert mn["G"](torch.randn(3, 128) * 50).abs().max() <= 1.0  # tanh output


def test_arch_kwargs_change_the_net_and_unknown_ones_raise():
    assert arch_kwargs_of("toy_triplet")["g_hidden"] == 128
    nets = build_nets("toy_triplet", data_shape=(2,), z_dim=4, embed_dim=3, g_hidden=7, g_depth=1,
                      d_act="relu")
    assert sum(p.numel() for p in nets["G"].parameters()) == _mlp_param_count([4, 7, 2])
    assert any(isinstance(m, nn.ReLU) for m in nets["D"].modules())
    with pytest.raises(ValueError, match="g_widht"):
        build_nets("toy_triplet", data_shape=(2,), z_dim=4, embed_dim=3, g_widht=7)


def test_mlp_activations_by_name():
    for name, kind in (("tanh", nn.Tanh), ("relu", nn.ReLU), ("leaky_relu", nn.LeakyReLU), ("elu", nn.ELU)):
        mlp = MLP(3, 5, 2, name, 4)
        assert sum(isinstance(m, kind) for m in mlp.modules()) == 2
        assert mlp(torch.randn(6, 3)).shape == (6, 4)
    with pytest.raises(ValueError, match="act"):
        MLP(3, 5, 2, "swish", 4)


def test_bad_arguments():
    with pytest.raises(ValueError) as info:
        build_nets("resnet", data_shape=(3, 32, 32), z_dim=8, embed_dim=1)
    assert all(name in str(info.value) for name in ARCHS)
    with pytest.raises(ValueError, match="embed_dim"):
        build_nets("toy_triplet", data_shape=(2,), z_dim=8, embed_dim=0)
    with pytest.raises(ValueError, match="embed_dim"):
        embedding_head(8, 0)
    with pytest.raises(ValueError, match="sn"):
        build_nets("sndcgan", data_shape=(3, 32, 32), z_dim=8, embed_dim=1, sn="frobenius")
    with pytest.raises(ValueError, match="data_shape"):
        build_nets("sndcgan", data_shape=(3, 30, 30), z_dim=8, embed_dim=1)
    with pytest.raises(ValueError, match="data_shape"):
        build_nets("dcgan64", data_shape=(3, 48, 48), z_dim=8, embed_dim=1)


def test_pacgan_toy_structure_and_maxout_reference():
    """PacGAN's 2D nets: G 4 x (FC400, BN, ReLU) + linear; D 3 x maxout(200, 5 pieces) + head.
    Each maxout layer equals the max over 5 separate affine maps (loop reference)."""
    from trainables.nets.pacgan_toy import Maxout

    nets = build_nets("toy_pacgan", data_shape=(2,), z_dim=2, embed_dim=16)
    g_layers = [m for m in nets["G"].modules() if isinstance(m, (nn.Linear, nn.BatchNorm1d))]
    assert [type(m).__name__ for m in g_layers] == ["Linear", "BatchNorm1d"] * 4 + ["Linear"]
    assert [m.out_features for m in g_layers if isinstance(m, nn.Linear)] == [400] * 4 + [2]
    maxouts = [m for m in nets["D"].modules() if isinstance(m, Maxout)]
    assert [(m.width, m.pieces) for m in maxouts] == [(200, 5)] * 3
    layer = maxouts[0]
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    w, b = layer.linear.weight.view(200, 5, 2), layer.linear.bias.view(200, 5)
    ref = torch.tensor([[max(float(w[u, k] @ x[i] + b[u, k]) for k in range(5)) for u in range(200)]
                        for i in range(7)])
    assert torch.allclose(layer(x), ref, atol=1e-5)
