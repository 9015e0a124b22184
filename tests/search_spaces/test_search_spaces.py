"""Search spaces: sampled points resolve, conditionals, defaults, grids, cost of a space call."""

import dataclasses
import math
import pickle
import warnings

import optuna
import pytest

from search_spaces import (apply_point, bind_space, default_point, format_space, get_space,
                           point_config, space_params, within)
from search_spaces.grids import expand_grid, get_grid, mmd_ttur_lambda_grid, ttur_grid
from trainables.config import defaults_for, flatten, resolve_config
from trainables.schema import ConfigError
from trainables.registry import GANS

optuna.logging.set_verbosity(optuna.logging.WARNING)

DATASET = {"toy": "ring8", "mnist": "mnist", "image32": "cifar10", "image48": "stl10", "image64": "celeba"}
OPTIM_KEYS = {"optim.lr_d", "optim.lr_g", "optim.beta1_d", "optim.beta2_d", "optim.beta1_g", "optim.beta2_g",
              "ema.halflife_kimg"}  # the shared training axes (trainables.gans.axes.suggest_optim)
# The spec's section-7 axes of the spec's GANs, beyond the optimiser (conditionals included).
SPEC_AXES = {
    "tripletgan": {"hparams.margin", "hparams.distance"},
    "mlgan": {"hparams.variant", "hparams.lam", "hparams.beta", "hparams.clip_value"},
    "mbgan": {"hparams.alpha"},
    "gngan": {"hparams.variant", "hparams.lambda_r", "hparams.lambda_p", "hparams.lambda_m1",
              "hparams.lambda_m2"},
    "mmd_rep": {"hparams.lam", "hparams.sigma", "hparams.bounded", "hparams.b_l", "hparams.b_u"},
    "mmd_rbf": set(), "mmd_rq": set(), "nsgan": set(), "hinge": set(),
    "wgan_gp": {"hparams.gp_weight"},
}
N_DRAWS = 50


def _pseudo_objective(params: dict) -> float:
    """A value that depends on the params (so TPE has something to model)."""
    total = 0.0
    for key, value in sorted(params.items()):
        if isinstance(value, bool) or isinstance(value, str):
            total += len(str(value)) * 0.1
        elif value > 0:
            total += math.log(value) * (len(key) % 3 + 1)
        else:
            total += value
    return total


def _draw(gan: str, family: str, n: int = N_DRAWS) -> list[tuple[dict, dict, dict]]:
    """n (returned dict, trial.params, trial.distributions) from a seeded TPE study."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=10))
    space = get_space(gan)
    out = []
    for _ in range(n):
        trial = study.ask()
        point = space(trial, family)
        out.append((point, dict(trial.params), dict(trial.distributions)))
        study.tell(trial, _pseudo_objective(point))
    return out


@pytest.mark.parametrize("gan", sorted(SPEC_AXES))
def test_spec_gans_search_the_spec_axes(gan):
    for family in ("toy", "image32"):
        assert set(space_params(gan, family)) == OPTIM_KEYS | SPEC_AXES[gan], gan


@pytest.mark.parametrize("gan", sorted(GANS))
def test_every_space_searches_optimiser_and_objective_fields(gan):
    """Any registered GAN (a new one too): the TTUR axes plus fields of its own objective."""
    fields = {f"hparams.{f.name}" for f in dataclasses.fields(GANS[gan].objective)}
    for family in ("toy", "image32"):
        params = set(space_params(gan, family))
        assert OPTIM_KEYS <= params and params - OPTIM_KEYS <= fields, gan


@pytest.mark.parametrize("family", ["toy", "image32"])
@pytest.mark.parametrize("gan", sorted(GANS))
def test_sampled_points_resolve_and_respect_conditions(gan, family):
    base = defaults_for(gan, DATASET[family])
    draws = _draw(gan, family)
    switches_seen = set()
    for point, params, dists in draws:
        # Optuna names are the config keys, and the point is exactly what Optuna sampled.
        assert point == params
        for key, value in point.items():
            assert within(dists[key], value), (key, value)
        assert OPTIM_KEYS <= set(point) <= OPTIM_KEYS | set(space_params(gan, family))
        assert point["optim.lr_d"] > 0 and point["optim.lr_g"] > 0
        cfg = resolve_config(apply_point(base, point))
        resolved = flatten(cfg.to_dict())
        for key, value in point.items():
            assert resolved[key] == value, key  # the sampled value reaches the run config
        if gan == "mlgan":
            variant = point["hparams.variant"]
            switches_seen.add(variant)
            assert ("hparams.beta" in point) == (variant == "center")
            assert ("hparams.clip_value" in point) == (variant == "clip")
            if variant != "center":
                assert cfg.hparams.beta == 0.0
            else:
                assert cfg.hparams.embed_dim == 5  # the variant's registry default still applies
        if gan == "mmd_rep":
            bounded = point["hparams.bounded"]
            switches_seen.add(bounded)
            assert ("hparams.b_l" in point) == bounded and ("hparams.b_u" in point) == bounded
            assert cfg.hparams.b_l < cfg.hparams.b_u
            if bounded:
                assert point["hparams.b_l"] < point["hparams.b_u"]
        if not GANS[gan].variants:
            assert "hparams.variant" not in point
    # Every branch was actually exercised, so the conditional checks above were not vacuous.
    if gan == "mlgan":
        assert switches_seen == {"vanilla", "clip", "center"}
    if gan == "mmd_rep":
        assert switches_seen == {True, False}
    # The sampler explored: points differ.
    assert len({tuple(sorted(p.items())) for p, _, _ in draws}) == N_DRAWS


def test_space_params_conditions():
    mlgan = space_params("mlgan", "toy")
    assert mlgan["hparams.beta"]["when"] == {"hparams.variant": ("center",)}
    assert mlgan["hparams.clip_value"]["when"] == {"hparams.variant": ("clip",)}
    assert mlgan["hparams.lam"]["when"] == {} and mlgan["optim.lr_d"]["when"] == {}
    beta = mlgan["hparams.beta"]["distribution"]
    assert (beta.low, beta.high, beta.log) == (1.0, 50.0, True)
    mmd = space_params("mmd_rep", "image32")
    for key in ("hparams.b_l", "hparams.b_u"):
        assert mmd[key]["when"] == {"hparams.bounded": (True,)}
    lam = mmd["hparams.lam"]["distribution"]
    assert (lam.low, lam.high, lam.log) == (-1.0, 2.0, False)
    # Ranges follow the family: toy learning rates stop at 5e-4 (PacGAN nets), image ones at 2e-3.
    assert space_params("nsgan", "toy")["optim.lr_g"]["distribution"].high == pytest.approx(1e-3)
    assert space_params("nsgan", "image32")["optim.lr_g"]["distribution"].high == pytest.approx(2e-3)
    gn_toy = space_params("gngan", "toy")["hparams.lambda_p"]["distribution"]
    gn_img = space_params("gngan", "image32")["hparams.lambda_p"]["distribution"]
    assert gn_toy.low < 0.1 < gn_toy.high and gn_img.low < 1.0 < gn_img.high
    assert gn_toy.high <= gn_img.low * 10
    text = format_space("mlgan", "toy")
    assert "hparams.beta" in text and "only when hparams.variant in {center}" in text


@pytest.mark.parametrize("family", sorted(DATASET))
def test_default_point_is_the_registry_default(family):
    for gan in GANS:
        base = defaults_for(gan, DATASET[family])
        point = default_point(gan, family)
        assert resolve_config(apply_point(base, point)) == resolve_config(base), gan
        # Exactly the default branch's parameters.
        assert OPTIM_KEYS <= set(point)
        assert "hparams.clip_value" not in point
        if gan == "mmd_rep":
            assert (point["hparams.b_l"], point["hparams.b_u"], point["hparams.bounded"]) == (0.25, 4.0, True)
        if gan == "mlgan":  # the family's default variant, with beta exactly when it is `center`
            hp = resolve_config(base).hparams
            assert (point["hparams.variant"], point["hparams.lam"]) == (hp.variant, hp.lam)
            assert point.get("hparams.beta") == (hp.beta if hp.variant == "center" else None)
            assert hp.variant == ("vanilla" if family.startswith("image") else "center")


def test_default_point_values_are_the_registered_defaults():
    """Objective weights from the papers; toy optimiser from PacGAN's 2D setting."""
    assert default_point("tripletgan", "toy")["hparams.margin"] == 0.5
    assert default_point("tripletgan", "image32")["hparams.margin"] == 1.6
    toy = default_point("tripletgan", "toy")
    assert (toy["optim.lr_d"], toy["optim.lr_g"], toy["optim.beta1_d"]) == (3e-4, 1e-4, 0.5)  # TTUR (ema_toy.md)
    assert toy["ema.halflife_kimg"] == 2.5 and default_point("tripletgan", "image32")["ema.halflife_kimg"] == 0.0
    gn = default_point("gngan", "toy")
    # GN-GAN's toy defaults: the paper's toy weights (Table 1) with the toy family's Adam
    assert (gn["hparams.lambda_r"], gn["hparams.lambda_p"], gn["hparams.lambda_m1"], gn["hparams.lambda_m2"],
            gn["optim.lr_d"], gn["optim.beta1_g"]) == (1.0, 0.1, 0.1, 0.1, 1e-4, 0.5)
    assert default_point("mbgan", "mnist")["hparams.alpha"] == 200.0  # MNIST: the paper's stable end
    assert default_point("wgan_gp", "image32")["hparams.gp_weight"] == 10.0
    assert default_point("mbgan", "image64")["hparams.alpha"] == 20.0


@pytest.mark.parametrize("gan", ["mlgan", "mmd_rep", "gngan"])
def test_default_point_enqueued_is_the_first_trial(gan):
    """As OptunaSearch uses it: enqueue_trial(default) -> the first trial's params are it."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    point = default_point(gan, "image32")
    study.enqueue_trial(point)
    trial = study.ask()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an out-of-range fixed value would warn
        returned = get_space(gan)(trial, "image32")
    assert returned == point == trial.params


def test_bound_space_with_ray_optuna_search():
    from ray.tune.search.optuna import OptunaSearch

    space = pickle.loads(pickle.dumps(bind_space("mmd_rep", "toy")))
    point = default_point("mmd_rep", "toy")
    searcher = OptunaSearch(space=space, metric="fid", mode="min", points_to_evaluate=[point],
                            sampler=optuna.samplers.TPESampler(seed=0))
    first = searcher.suggest("t1")
    assert first == point
    second = searcher.suggest("t2")
    resolve_config(apply_point(defaults_for("mmd_rep", "ring8"), second))


def test_point_config_drops_inactive_conditionals():
    base = defaults_for("mlgan", "cifar10")
    base["hparams"] = {"variant": "center", "beta": 20.0}
    point = default_point("mlgan", "image32")  # vanilla: no beta
    with pytest.raises(ConfigError, match="hparams.beta"):
        resolve_config(apply_point(base, point))
    cfg = resolve_config(point_config(base, point))
    assert cfg.hparams.variant == "vanilla" and cfg.hparams.beta == 0.0
    kept = point_config({**base, "steps": 7}, point)
    assert kept["steps"] == 7 and kept["data"]["name"] == "cifar10"


class _StrictTrial:
    """Exposes only the suggest_* methods (values from a real FixedTrial on the defaults)."""

    def __init__(self, values):
        object.__setattr__(self, "_inner", optuna.trial.FixedTrial(values))

    def __getattribute__(self, name):
        if name in ("suggest_float", "suggest_int", "suggest_categorical"):
            return getattr(object.__getattribute__(self, "_inner"), name)
        raise AssertionError(f"space touched trial.{name}")


@pytest.mark.parametrize("gan", sorted(GANS))
def test_space_only_suggests(gan):
    for family in ("toy", "image32"):
        values = {**flatten(resolve_config(defaults_for(gan, DATASET[family])).to_dict()),
                  "hparams.beta": 10.0, "hparams.clip_value": 0.01}
        space = get_space(gan)
        assert space(_StrictTrial(values), family)  # raises if anything else is touched


def test_bad_names_raise():
    with pytest.raises(ValueError, match="family"):
        bind_space("tripletgan", "image99")
    with pytest.raises(ValueError, match="family"):
        default_point("mbgan", "cifar10")
    with pytest.raises(ConfigError, match="gan"):
        get_space("nogan")


def test_mmd_ttur_lambda_grid():
    grid = mmd_ttur_lambda_grid()
    assert len(grid) == 96
    assert len({tuple(sorted(p.items())) for p in grid}) == 96
    expected = set()
    for lr_d in (1e-4, 2e-4, 5e-4, 1e-3):
        for lr_g in (1e-4, 2e-4, 5e-4, 1e-3):
            for lam in (-1, -0.5, 0, 0.5, 1, 2):
                expected.add((lr_d, lr_g, lam))
    assert {(p["optim.lr_d"], p["optim.lr_g"], p["hparams.lam"]) for p in grid} == expected
    for family in ("toy", "image32"):
        base = defaults_for("mmd_rep", DATASET[family])
        for point in grid:
            cfg = resolve_config(apply_point(base, point))
            assert (cfg.optim.lr_d, cfg.optim.lr_g, cfg.hparams.lam) == (
                point["optim.lr_d"], point["optim.lr_g"], point["hparams.lam"])
    assert get_grid("mmd_ttur_lambda", "mmd_rep") == grid
    with pytest.raises(ValueError, match="gan"):
        get_grid("mmd_ttur_lambda", "nsgan")
    with pytest.raises(ValueError, match="grid"):
        get_grid("nope", "nsgan")


def test_expand_grid():
    axes = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.5]}
    got = expand_grid(axes)
    want = []
    for a in axes["a"]:
        for b in axes["b"]:
            for c in axes["c"]:
                want.append({"a": a, "b": b, "c": c})
    assert got == want
    assert len(ttur_grid()) == 16
    for bad in ({}, {"a": []}, {"a": [1, 1]}, {"a": 3}, {1: [1]}):
        with pytest.raises(ValueError):
            expand_grid(bad)
