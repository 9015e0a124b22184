"""Generator EMA: the update against a loop reference, bit-exact resume, off = the raw generator."""

import copy

import pytest
import torch

from trainables.checkpoint import save_checkpoint
from trainables.config import resolve_config
from trainables.schema import ConfigError
from trainables.evaluation import build_evaluator
from trainables.loop import GanRun


def small(gan="tripletgan", **ema):
    return {"gan": gan, "data": {"name": "ring8", "batch_size": 32}, "steps": 100, "seed": 0, "device": "cpu",
            "ema": ema, "eval": {"num_samples": 300}}


def reference_ema(ema: dict, net: dict, cur_nimg: int, batch_size: int, halflife_kimg: float, rampup) -> dict:
    """EDM's training_loop.py update written out with Python floats, one tensor entry at a time."""
    halflife_nimg = halflife_kimg * 1000
    if rampup is not None:
        halflife_nimg = min(halflife_nimg, cur_nimg * rampup)
    beta = 0.5 ** (batch_size / max(halflife_nimg, 1e-8))
    return {k: beta * ema[k] + (1 - beta) * net[k] for k in ema}


@pytest.mark.parametrize("rampup", [0.05, None])
def test_ema_update_matches_a_loop_reference(rampup):
    run = GanRun(small(halflife_kimg=0.5, rampup=rampup))
    G = run.nets["G"]
    ema = {k: v.detach().clone() for k, v in run.ema.net.named_parameters()}
    for _ in range(6):
        before = copy.deepcopy(ema)
        run.train_step()
        now = {k: v.detach() for k, v in G.named_parameters()}
        ema = reference_ema(before, now, run.step * 32, 32, 0.5, rampup)
        for k, v in run.ema.net.named_parameters():
            torch.testing.assert_close(v, ema[k], rtol=1e-6, atol=1e-7)
    # BatchNorm statistics are copied, not averaged
    for (name, b_ema), b in zip(run.ema.net.named_buffers(), G.buffers()):
        assert torch.equal(b_ema, b), name
    assert not any(p.requires_grad for p in run.ema.net.parameters())


def test_ema_averages_towards_the_generator_and_differs_from_it():
    run = GanRun(small(halflife_kimg=1.0))
    start = [p.detach().clone() for p in run.ema.net.parameters()]
    run.train(30)
    raw = list(run.nets["G"].parameters())
    moved = [not torch.equal(a, s) for a, s in zip(run.ema.net.parameters(), start)]
    assert any(moved)
    assert any(not torch.equal(a, r) for a, r in zip(run.ema.net.parameters(), raw))
    z = run.sample_z(8, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(run.generate(z), run.generate(z, raw=True))


@pytest.mark.parametrize("gan", ["mmd_rep", "gngan"])
def test_resume_with_ema_is_bit_exact(gan, tmp_path):
    k, cfg = 12, small(gan, halflife_kimg=0.2)
    straight = GanRun(cfg)
    straight.train(2 * k)
    first = GanRun(cfg)
    first.train(k)
    save_checkpoint(tmp_path / "c.pt", first.checkpoint_payload())
    torch.manual_seed(7)
    resumed = GanRun.from_checkpoint(tmp_path / "c.pt")
    resumed.train(k)
    for (name, a), b in zip(straight.ema.net.state_dict().items(), resumed.ema.net.state_dict().values()):
        assert torch.equal(a, b), name
    for (name, a), b in zip(straight.nets["G"].state_dict().items(), resumed.nets["G"].state_dict().values()):
        assert torch.equal(a, b), name


def test_ema_off_is_the_raw_generator_bit_for_bit():
    """halflife_kimg = 0: no average, same training and same evaluation as a run without one."""
    off = GanRun(small(halflife_kimg=0))
    on = GanRun(small(halflife_kimg=0.5))
    assert off.ema is None and off.generator is off.nets["G"]
    off.train(10)
    on.train(10)
    for a, b in zip(off.nets["G"].parameters(), on.nets["G"].parameters()):
        assert torch.equal(a, b)  # the average never feeds back into training
    assert "ema" not in off.state_dict()
    metrics = build_evaluator(off).evaluate(off)
    assert not any(k.startswith("eval_raw/") for k in metrics)
    z = off.sample_z(16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(off.generate(z), off.generate(z, raw=True))


def test_evaluation_measures_the_average_and_logs_the_raw_metric():
    run = GanRun(small(halflife_kimg=0.5))
    run.train(40)
    evaluator = build_evaluator(run)
    metrics = evaluator.evaluate(run)
    ema_only = evaluator.measure(run.generate(evaluator.z))
    raw_only = evaluator.measure(run.generate(evaluator.z, raw=True))
    assert metrics["eval/fit"] == ema_only["eval/fit"]
    assert metrics["eval_raw/fit"] == raw_only["eval/fit"]


def test_checkpoint_without_an_average_starts_it_from_g(tmp_path):
    plain = GanRun(small(halflife_kimg=0))
    plain.train(5)
    payload = plain.checkpoint_payload()
    payload["config"]["ema"]["halflife_kimg"] = 0.5
    save_checkpoint(tmp_path / "c.pt", payload)
    run = GanRun.from_checkpoint(tmp_path / "c.pt")
    for a, b in zip(run.ema.net.state_dict().values(), plain.nets["G"].state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("key,value,message", [
    ("halflife_kimg", -1.0, "ema.halflife_kimg = -1.0: must be >= 0"),
    ("rampup", 0.0, "ema.rampup = 0.0: must be > 0"),
    ("decay", 0.9, "ema.decay: unknown key; accepted keys are halflife_kimg, rampup, bn_stats"),
    ("bn_stats", "mean", "ema.bn_stats = 'mean': accepted values are copy, standing"),
])
def test_bad_ema_settings_are_one_line_errors(key, value, message):
    with pytest.raises(ConfigError) as err:
        resolve_config({"gan": "nsgan", "ema": {key: value}})
    assert str(err.value) == message


def test_standing_statistics_are_the_mean_over_fixed_code_batches():
    """ema.bn_stats = "standing": the average's BatchNorm statistics recomputed for its own
    weights (reference: a fresh copy, per-batch statistics averaged by hand), training untouched."""
    from trainables.ema import STANDING_BATCHES, STANDING_SEED

    run, plain = GanRun(small(halflife_kimg=0.5, bn_stats="standing")), GanRun(small(halflife_kimg=0.5))
    run.train(15)
    plain.train(15)
    z = run.sample_z(4, generator=torch.Generator().manual_seed(0))
    run.generate(z)  # the standing statistics are computed before the average generates
    gen = torch.Generator().manual_seed(STANDING_SEED)
    codes = [run.sample_z(32, generator=gen) for _ in range(STANDING_BATCHES)]
    first_bn = next(m for m in run.ema.net.modules() if isinstance(m, torch.nn.BatchNorm1d))
    layers = list(run.ema.net.net)
    cut = layers.index(first_bn)
    with torch.no_grad():
        pre = [torch.nn.Sequential(*layers[:cut])(c) for c in codes]  # the inputs of the first BatchNorm
    torch.testing.assert_close(first_bn.running_mean, torch.stack([p.mean(0) for p in pre]).mean(0))
    torch.testing.assert_close(first_bn.running_var, torch.stack([p.var(0) for p in pre]).mean(0))
    assert not torch.equal(first_bn.running_mean, next(
        m for m in run.nets["G"].modules() if isinstance(m, torch.nn.BatchNorm1d)).running_mean)
    run.train(5)
    plain.train(5)
    for a, b in zip(run.nets["G"].state_dict().values(), plain.nets["G"].state_dict().values()):
        assert torch.equal(a, b)  # recomputing the average's statistics never touches training
