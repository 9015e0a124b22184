"""The GAN registry and config validation: names, defaults, variants, one-line errors."""

import pytest

from trainables.config import deep_merge, flatten, resolve_config, unflatten

from trainables.schema import ConfigError
import importlib
import pkgutil

import trainables.gans
from trainables.gans import BUILTIN
from trainables.gans.mlgan import MLGAN
from trainables.registry import GANS, GanSpec, get_gan, register_gan

HELPER_MODULES = {"base", "axes", "presets"}  # trainables/gans modules that define no GAN


def test_every_gan_module_is_registered_under_its_own_name():
    modules = {m.name for m in pkgutil.iter_modules(trainables.gans.__path__)} - HELPER_MODULES
    assert modules == set(BUILTIN)
    for module in BUILTIN:
        spec = importlib.import_module(f"trainables.gans.{module}").GAN
        assert spec.name == module and GANS[module] is spec
    assert list(GANS)[:len(BUILTIN)] == list(BUILTIN)  # registration order = BUILTIN order


def test_unknown_gan_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        get_gan("stylegan")
    msg = str(err.value)
    assert "stylegan" in msg and "\n" not in msg
    for name in GANS:
        assert name in msg


def test_register_rejects_duplicates_and_wrong_types():
    with pytest.raises(ValueError, match="already registered"):
        register_gan(GANS["hinge"])
    with pytest.raises(TypeError):
        register_gan({"name": "x"})
    with pytest.raises(TypeError):
        GanSpec(name="x", objective=dict, description="", paper="", metric_learning=False)


@pytest.mark.parametrize("gan,dataset,expected", [
    ("tripletgan", "ring8", {"hparams.margin": 0.5, "hparams.embed_dim": 16, "hparams.distance": "arc",
                             "optim.lr_g": 1e-4, "optim.lr_d": 3e-4, "optim.beta1_d": 0.5,  # TTUR (ema_toy.md)
                             "data.batch_size": 100, "net.arch": "toy_pacgan", "net.z_dim": 2,
                             "ema.halflife_kimg": 2.5}),
    ("mmd_rep", "grid25", {"optim.lr_d": 6e-4, "optim.lr_g": 1e-4, "ema.halflife_kimg": 2.5,
                           "ema.rampup": 0.05, "ema.bn_stats": "copy"}),
    ("mmd_rep", "mnist", {"ema.halflife_kimg": 0.0}),  # no EMA on images (mnist_sndcgan.md)
    ("tripletgan", "mnist", {"hparams.margin": 1.0, "optim.lr_g": 5e-4, "optim.lr_d": 5e-4,
                             "data.batch_size": 256, "net.arch": "mlp_mnist"}),
    ("tripletgan", "cifar10", {"hparams.margin": 1.6, "hparams.embed_dim": 64, "data.batch_size": 256}),
    ("tripletgan", "stl10", {"hparams.margin": 1.6, "hparams.embed_dim": 128, "optim.lr_d": 1e-4}),
    ("mlgan", "mnist", {"hparams.variant": "center", "hparams.lam": 1.0, "hparams.beta": 20.0,
                        "hparams.embed_dim": 64, "optim.lr_d": 8e-4, "optim.lr_g": 8e-4,
                        "net.arch": "sndcgan", "net.sn": "pim", "net.kwargs": {"width": 0.125},
                        "data.batch_size": 64}),
    ("mlgan", "cifar10", {"hparams.variant": "vanilla", "hparams.lam": 0.5, "hparams.beta": 0.0,
                          "hparams.embed_dim": 64, "optim.lr_d": 2e-4}),
    ("mlgan", "ring8", {"hparams.variant": "center", "hparams.lam": 1.0, "hparams.beta": 10.0,
                        "hparams.embed_dim": 5}),
    ("mbgan", "grid25", {"hparams.alpha": 2.0, "hparams.embed_dim": 500}),
    ("mbgan", "mnist", {"hparams.alpha": 200.0, "net.arch": "sndcgan", "net.sn": "pim", "net.z_dim": 100,
                        "net.z_dist": "normal", "data.batch_size": 128}),
    ("mbgan", "celeba", {"hparams.alpha": 20.0, "hparams.embed_dim": 500, "optim.lr_d": 2e-4,
                         "data.batch_size": 128, "net.z_dim": 100, "net.z_dist": "uniform01"}),
    ("gngan", "ring8", {"hparams.alpha": 0.05, "hparams.lambda_p": 0.1, "hparams.lambda_m1": 0.1,
                        "hparams.lambda_m2": 0.1, "hparams.lambda_r": 1.0, "optim.lr_d": 1e-4,
                        "optim.lr_g": 1e-4, "optim.beta1_d": 0.5, "optim.beta1_g": 0.5,
                        "optim.lr_decay": 1.0, "data.batch_size": 100, "net.arch": "toy_pacgan"}),
    ("gngan", "mixture", {"hparams.lambda_p": 0.1, "net.arch": "toy_pacgan", "net.z_dim": 2}),
    ("gngan", "cifar10", {"hparams.lambda_p": 1.0, "optim.beta2_d": 0.9, "net.z_dim": 128}),
    ("mmd_rep", "cifar10", {"hparams.lam": 1.0, "hparams.sigma": 1.0, "hparams.bounded": True,
                            "hparams.b_l": 0.25, "hparams.b_u": 4.0, "hparams.embed_dim": 16,
                            "optim.beta2_d": 0.999, "data.batch_size": 64, "net.sn": "pim"}),
    ("wgan_gp", "ring8", {"optim.n_critic": 5, "hparams.gp_weight": 10.0}),
])
def test_defaults_follow_the_spec(gan, dataset, expected):
    data = {"name": dataset}
    if dataset == "mixture":
        data["mixture"] = {"kind": "ring", "count": 3, "radius": 1.0, "std": 0.1}
    cfg = flatten(resolve_config({"gan": gan, "data": data}).to_dict())
    for key, value in expected.items():
        assert cfg[key] == value, key


def test_variant_defaults_apply_and_user_values_win():
    center = resolve_config({"gan": "mlgan", "hparams": {"variant": "center"}}).hparams
    assert (center.lam, center.beta, center.embed_dim) == (1.0, 10.0, 5)
    custom = resolve_config({"gan": "mlgan", "hparams": {"variant": "center", "beta": 20}}).hparams
    assert custom.beta == 20.0 and isinstance(custom, MLGAN)


def test_config_round_trips_through_a_plain_dict():
    cfg = resolve_config({"gan": "mmd_rep", "hparams": {"lam": -0.5}, "optim": {"lr_d": 1e-3}})
    again = resolve_config(cfg.to_dict())
    assert again == cfg
    assert unflatten(flatten(cfg.to_dict())) == cfg.to_dict()


BAD = [
    ({"gan": "tripletgan", "hparams": {"margin": -1}}, "hparams.margin"),
    ({"gan": "tripletgan", "hparams": {"distance": "cosine"}}, "hparams.distance"),
    ({"gan": "mmd_rep", "hparams": {"b_l": 4.0, "b_u": 0.25}}, "hparams.b_l"),
    ({"gan": "mmd_rep", "hparams": {"b_l": 1.0, "b_u": 1.0}}, "hparams.b_l"),
    ({"gan": "mmd_rep", "hparams": {"sigma": 0}}, "hparams.sigma"),
    ({"gan": "nsgan", "optim": {"lr_d": 0}}, "optim.lr_d"),
    ({"gan": "nsgan", "optim": {"lr_g": -1e-4}}, "optim.lr_g"),
    ({"gan": "nsgan", "optim": {"beta1_d": 1.0}}, "optim.beta1_d"),
    ({"gan": "mlgan", "hparams": {"variant": "fancy"}}, "hparams.variant"),
    ({"gan": "gngan", "hparams": {"variant": "wgan"}}, "hparams.variant"),
    ({"gan": "mlgan", "data": {"name": "cifar10"}, "hparams": {"beta": 10}}, "hparams.beta"),
    ({"gan": "mlgan", "hparams": {"reduction": "max"}}, "hparams.reduction"),
    ({"gan": "tripletgan", "hparams": {"embed_dim": 0}}, "hparams.embed_dim"),
    ({"gan": "mbgan", "hparams": {"embed_dim": -3}}, "hparams.embed_dim"),
    ({"gan": "mbgan", "hparams": {"alpha": 0}}, "hparams.alpha"),
    ({"gan": "tripletgan", "hparams": {"margn": 1}}, "hparams.margn"),
    ({"gan": "tripletgan", "optim": {"lr": 1e-3}}, "optim.lr"),
    ({"gan": "tripletgan", "learning_rate": 1}, "learning_rate"),
    ({"gan": "tripletgan", "hparams": {"margin": "big"}}, "hparams.margin"),
    ({"gan": "tripletgan", "data": {"name": "imagenet"}}, "data.name"),
    ({"gan": "tripletgan", "data": {"batch_size": 1}}, "data.batch_size"),
    ({"gan": "tripletgan", "net": {"sn": "frobenius"}}, "net.sn"),
    ({"gan": "tripletgan", "net": {"arch": "resnet"}}, "net.arch"),
    ({"gan": "tripletgan", "steps": 0}, "steps"),
    ({"gan": "tripletgan", "optim": {"n_critic": 0}}, "optim.n_critic"),
    ({"gan": "stylegan"}, "gan"),
]


@pytest.mark.parametrize("config,field", BAD, ids=[f for _, f in BAD])
def test_bad_input_is_one_line_naming_the_field(config, field):
    with pytest.raises(ConfigError) as err:
        resolve_config(config)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.split()[0].rstrip(":") == field or msg.startswith(field), msg


@pytest.mark.parametrize("gan", ["tripletgan", "gngan"])
def test_paper_toy_settings_stay_selectable(gan):
    """The papers' own toy nets and optimisers apply over the PacGAN family defaults."""
    from trainables.config import TOY_PAPER_NETS, deep_merge

    cfg = resolve_config(deep_merge({"gan": gan, "data": {"name": "ring8"}}, TOY_PAPER_NETS[gan]))
    flat = flatten(cfg.to_dict())
    for key, value in flatten(TOY_PAPER_NETS[gan]).items():
        assert flat[key] == value, key


def test_another_arch_does_not_inherit_the_default_arch_options():
    conv = resolve_config({"gan": "mlgan", "data": {"name": "mnist"}}).net
    assert (conv.arch, conv.kwargs) == ("sndcgan", {"width": 0.125})
    mlp = resolve_config({"gan": "mlgan", "data": {"name": "mnist"}, "net": {"arch": "mlp_mnist"}}).net
    assert (mlp.arch, mlp.kwargs) == ("mlp_mnist", {})
    wide = resolve_config({"gan": "mlgan", "data": {"name": "mnist"}, "net": {"kwargs": {"width": 1.0}}}).net
    assert (wide.arch, wide.kwargs) == ("sndcgan", {"width": 1.0})
    same = resolve_config({"gan": "mbgan", "data": {"name": "mnist"}, "net": {"arch": "sndcgan"}}).net
    assert same.kwargs == {"width": 0.125}


def _arch_presets():
    return [(name, key.split("/")[0], key.split("/")[1], preset) for name, spec in sorted(GANS.items())
            for key, preset in spec.presets.items() if "/" in key]


def test_nets_presets_apply_only_with_their_nets():
    """A ``"<family>/<arch>"`` preset applies over the family's when the run uses that arch (the
    user's ``net.arch`` or the defaults'), never with other nets; the user's values still win."""
    from search_spaces import FAMILY_DATASET, default_point

    cases = _arch_presets()
    assert {(family, arch) for _, family, arch, _ in cases} >= {("mnist", "sndcgan")}
    for gan, family, arch, preset in cases:
        dataset = FAMILY_DATASET[family]
        flat = flatten(resolve_config({"gan": gan, "data": {"name": dataset}, "net": {"arch": arch}}).to_dict())
        for key, value in flatten(preset).items():
            assert flat[key] == value, (gan, key)
        other = "mlp_mnist" if arch != "mlp_mnist" else "sndcgan"
        plain = flatten(resolve_config({"gan": gan, "data": {"name": dataset}, "net": {"arch": other}}).to_dict())
        family_only = flatten(resolve_config({"gan": gan, "data": {"name": dataset}}).to_dict())
        if family_only["net.arch"] != arch:
            assert any(plain[k] != v for k, v in flatten(preset).items()), (gan, "preset leaked to other nets")
        key, value = next(iter(flatten(preset).items()))
        mine = value * 2 if isinstance(value, float) else value
        user = flatten(resolve_config(deep_merge({"gan": gan, "data": {"name": dataset}, "net": {"arch": arch}},
                                                 unflatten({key: mine}))).to_dict())
        assert user[key] == mine
        point = default_point(gan, family, arch)  # a study's first trial starts from the same defaults
        assert all(point[k] == v for k, v in flatten(preset).items() if k in point)
