"""The training loop: every GAN trains on ring8; resume is bit-for-bit; checkpoints are safe."""

import math

import pytest
import torch

from trainables.checkpoint import FORMAT_VERSION, CheckpointError, digest, load_checkpoint, save_checkpoint
from trainables.config import resolve_config
from trainables.evaluation import build_evaluator
from trainables.loop import GanRun
from trainables.registry import GANS


def small(gan, **extra):
    """A CPU-sized ring8 run: batch 64 keeps a few hundred steps within seconds."""
    cfg = {"gan": gan, "data": {"name": "ring8", "batch_size": 64}, "steps": 400, "seed": 0,
           "device": "cpu"}
    for key, value in extra.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize("gan", sorted(GANS))
def test_every_gan_trains_on_ring8_and_improves(gan):
    torch.set_num_threads(1)
    run = GanRun(small(gan))
    evaluator = build_evaluator(run)
    untrained = evaluator.evaluate(run)
    curve, losses = [], []
    for _ in range(4):
        run.train(100, callback=lambda step, l: losses.append(l))
        curve.append(evaluator.evaluate(run))
    assert all(math.isfinite(v) for l in losses for v in l.values()), "a loss went NaN/inf"
    for net in run.nets.values():
        assert all(torch.isfinite(p).all() for p in net.parameters())
    best_modes = max(m["eval/modes"] for m in curve)
    best_hq = max(m["eval/hq"] for m in curve)
    assert best_modes > untrained["eval/modes"] or best_hq > untrained["eval/hq"], (untrained, curve)


def params(run):
    return {f"{n}.{k}": v.detach().clone() for n, net in run.nets.items()
            for k, v in net.state_dict().items()}


@pytest.mark.parametrize("gan", ["tripletgan", "gngan", "mmd_rep", "mlgan", "wgan_gp", "mbgan"])
def test_resume_from_checkpoint_is_bit_for_bit(gan, tmp_path):
    """Stop at k, save, rebuild from the file, train k more == 2k uninterrupted."""
    k = 15
    cfg = small(gan, data={"batch_size": 32}, hparams={"variant": "clip"} if gan == "mlgan" else {})
    straight = GanRun(cfg)
    straight.train(2 * k)

    first = GanRun(cfg)
    first.train(k)
    save_checkpoint(tmp_path / "ckpt.pt", first.checkpoint_payload(best={"eval/modes": 1.0}))
    del first
    torch.manual_seed(999)  # the global RNG is part of the saved state: disturb it
    resumed = GanRun.from_checkpoint(tmp_path / "ckpt.pt")
    assert resumed.step == k
    resumed.train(k)

    a, b = params(straight), params(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.step == straight.step == 2 * k


@pytest.mark.parametrize("gan", sorted(GANS))
def test_frozen_nets_change_nothing_but_skip_their_gradients(gan):
    """Each update freezes the nets it does not update: the same weights, bit for bit, as a loop
    computing every net's gradients, and G's update leaves no gradient on D."""
    cfg = small(gan, data={"batch_size": 32})
    frozen = GanRun(cfg)  # each run seeds torch's global RNG (penalties draw from it): train it at once
    frozen.train(3)
    everything = GanRun(cfg)
    everything._held = {name: {id(p) for p in everything._trainable} for name in everything._held}
    everything.train(3)
    a, b = params(frozen), params(everything)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert all(p.grad is not None for p in everything.nets["D"].parameters())  # the reference did compute them
    for p in frozen.nets["D"].parameters():
        p.grad = None
    frozen._update("G", lambda: frozen.objective.g_loss(frozen.nets, frozen.draw))
    assert all(p.grad is None for p in frozen.nets["D"].parameters())
    assert any(p.grad is not None for p in frozen.nets["G"].parameters())


def test_a_parameter_built_frozen_stays_frozen(monkeypatch):
    """Freezing the other nets during an update never unfreezes what the nets were built with."""
    import trainables.loop as loop

    build_nets = loop.build_nets

    def build_with_a_frozen_layer(*args, **kwargs):
        nets = build_nets(*args, **kwargs)
        next(nets["G"].parameters()).requires_grad_(False)
        return nets

    monkeypatch.setattr(loop, "build_nets", build_with_a_frozen_layer)
    run = GanRun(small("mmd_rep", data={"batch_size": 32}))
    frozen, trained = list(run.nets["G"].parameters())[:2]  # first layer's weight and bias
    before = frozen.detach().clone(), trained.detach().clone()
    run.train(3)
    assert not frozen.requires_grad and torch.equal(frozen, before[0])
    assert trained.requires_grad and not torch.equal(trained, before[1])


def test_checkpoint_describes_itself(tmp_path):
    run = GanRun(small("tripletgan", data={"batch_size": 16}))
    run.train(2)
    path = save_checkpoint(tmp_path / "c.pt", run.checkpoint_payload(best={"eval/modes": 3.0}))
    data = load_checkpoint(path)
    assert data["step"] == 2 and data["best"] == {"eval/modes": 3.0}
    assert resolve_config(data["config"]) == run.cfg
    assert data["format"] == FORMAT_VERSION and data["kind"] == "gan-run"
    assert data["digest"] == digest(data)


def test_a_weight_changed_after_saving_is_caught_by_the_digest(tmp_path):
    run = GanRun(small("nsgan", data={"batch_size": 16}))
    good = save_checkpoint(tmp_path / "good.pt", run.checkpoint_payload())
    data = torch.load(good, weights_only=True)
    for name, weight in data["state"]["nets"]["G"].items():  # one float of G's first weight
        weight.view(-1)[0] = float("nan")
        break
    bad = tmp_path / "bad.pt"
    torch.save(data, bad)  # unpickles fine: only the digest can tell
    with pytest.raises(CheckpointError, match="does not match its digest") as err:
        load_checkpoint(bad)
    assert str(bad) in str(err.value)


class Custom:  # needs arbitrary pickle: refused by weights_only
    pass


def test_bad_checkpoints_are_one_line_errors(tmp_path):
    run = GanRun(small("nsgan", data={"batch_size": 16}))
    good = save_checkpoint(tmp_path / "good.pt", run.checkpoint_payload())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)

    evil = tmp_path / "evil.pt"
    torch.save({"kind": "gan-run", "format": FORMAT_VERSION, "obj": Custom()}, evil)
    for path in (truncated, foreign, evil, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_atomic_write_leaves_previous_file_intact_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1, "config": {}, "state": {}})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, {"step": 2, "config": {}, "state": {}})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_weight_clipping_applies_after_each_d_step():
    run = GanRun(small("mlgan", hparams={"variant": "clip", "clip_value": 0.02}, data={"batch_size": 16}))
    run.train(3)
    for p in run.nets["D"].parameters():
        assert p.abs().max() <= 0.02 + 1e-12


def test_ttur_and_n_critic_reach_the_optimisers():
    run = GanRun(small("wgan_gp", optim={"lr_d": 3e-4, "lr_g": 7e-5, "beta1_d": 0.1, "beta2_g": 0.8},
                       data={"batch_size": 16}))
    assert run.optims["D"].param_groups[0]["lr"] == 3e-4
    assert run.optims["G"].param_groups[0]["lr"] == 7e-5
    assert run.optims["D"].param_groups[0]["betas"] == (0.1, 0.9)
    assert run.optims["G"].param_groups[0]["betas"] == (0.5, 0.8)
    run.train(2)
    # Adam counts steps: 5 critic steps and 1 generator step per iteration.
    d_state = next(iter(run.optims["D"].state.values()))
    g_state = next(iter(run.optims["G"].state.values()))
    assert int(d_state["step"]) == 10 and int(g_state["step"]) == 2


def test_gngan_lr_decays_on_schedule():
    run = GanRun(small("gngan", optim={"lr_decay_every": 2, "lr_decay": 0.5}, data={"batch_size": 16}))
    run.train(4)
    assert run.optims["D"].param_groups[0]["lr"] == pytest.approx(1e-4 * 0.25)  # GN-GAN's toy lr_d, halved twice
    assert set(run.optims) == {"D", "G", "AE"}
