"""run.perf: bf16 autocast, channels_last and torch.compile against the default step on CPU."""

import pytest
import torch

from trainables.checkpoint import save_checkpoint
from trainables.config import resolve_config
from trainables.schema import ConfigError
from trainables.loop import GanRun

STEPS = 4


def toy(gan, **perf):
    return {"gan": gan, "data": {"name": "ring8", "batch_size": 32}, "device": "cpu", "seed": 0, "perf": perf}


def conv(gan, folder, **perf):
    return {"gan": gan, "device": "cpu", "seed": 0, "perf": perf,
            "data": {"name": "folder", "root": str(folder), "image_size": 32, "batch_size": 8},
            "net": {"arch": "sndcgan", "sn": "pim", "kwargs": {"width": 0.0625}}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    gen = torch.Generator().manual_seed(0)
    for i in range(64):
        pixels = torch.randint(0, 256, (32, 32, 3), generator=gen, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(root / f"{i:03d}.png")
    return root


def losses(cfg, steps=STEPS):
    run = GanRun(cfg)
    return run, [run.train(1) for _ in range(steps)]


def assert_close(a, b, rtol, atol):
    for step_a, step_b in zip(a, b):
        for key in step_a:
            assert step_b[key] == pytest.approx(step_a[key], rel=rtol, abs=atol), (key, a, b)


@pytest.mark.parametrize("gan", ["nsgan", "mmd_rep", "tripletgan", "mlgan", "mbgan", "wgan_gp", "gngan"])
def test_bf16_toy_losses_match_float32(gan):
    _, fp32 = losses(toy(gan))
    run, bf16 = losses(toy(gan, amp="bf16"))
    assert_close(fp32[:1], bf16[:1], rtol=0.05, atol=0.02)  # the same nets and batches: rounding only
    assert all(torch.isfinite(torch.tensor(list(step.values()))).all() for step in bf16)
    assert all(p.dtype == torch.float32 for net in run.nets.values() for p in net.parameters())


@pytest.mark.parametrize("gan", ["mmd_rep", "wgan_gp", "gngan"])
def test_bf16_conv_keeps_spectral_norm_and_penalties_in_float32(gan, folder):
    _, fp32 = losses(conv(gan, folder), steps=2)
    run, bf16 = losses(conv(gan, folder, amp="bf16"), steps=2)
    assert_close(fp32[:1], bf16[:1], rtol=0.05, atol=0.05)
    sn = [m for m in run.nets["D"].modules() if hasattr(m, "vec_out")]
    assert sn and all(m.vec_out.dtype == torch.float32 for m in sn)
    assert sn[0].sigma().dtype == torch.float32


def test_full_precision_parts_ignore_autocast():
    from trainables.losses.distances import pairwise_sq_dists

    a, b = torch.randn(6, 16) * 30, torch.randn(5, 16) * 30
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = pairwise_sq_dists(a, b)
        plain_matmul = a @ b.T
    assert inside.dtype == torch.float32 and plain_matmul.dtype == torch.bfloat16
    torch.testing.assert_close(inside, pairwise_sq_dists(a, b))


@pytest.mark.parametrize("gan", ["mmd_rep", "tripletgan"])
def test_channels_last_conv_matches_the_default_layout(gan, folder):
    _, default = losses(conv(gan, folder))
    run, nhwc = losses(conv(gan, folder, channels_last=True))
    assert_close(default, nhwc, rtol=1e-4, atol=1e-5)
    conv_weights = [p for p in run.nets["D"].parameters() if p.dim() == 4]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)


@pytest.mark.slow
def test_compiled_step_matches_eager():
    from torch._dynamo.utils import counters

    cfg = toy("mmd_rep")
    cfg["net"] = {"kwargs": {"g_hidden": 32, "d_hidden": 16}}
    _, eager = losses(cfg)
    graphs = counters["stats"]["unique_graphs"]
    run, compiled = losses({**cfg, "perf": {"compile": True}})
    assert counters["stats"]["unique_graphs"] > graphs  # G and D really ran as compiled graphs
    assert_close(eager, compiled, rtol=1e-4, atol=1e-5)
    assert not any(k.startswith("_orig_mod") for k in run.nets["G"].state_dict())  # checkpoints unchanged


@pytest.mark.parametrize("perf", [{"amp": "bf16"}, {"channels_last": True}])
def test_resume_with_perf_options_is_bit_exact(perf, folder, tmp_path):
    cfg = conv("mmd_rep", folder, **perf)
    straight = GanRun(cfg)
    straight.train(4)
    first = GanRun(cfg)
    first.train(2)
    save_checkpoint(tmp_path / "c.pt", first.checkpoint_payload())
    resumed = GanRun.from_checkpoint(tmp_path / "c.pt")
    resumed.train(2)
    for (name, a), b in zip(straight.nets["G"].state_dict().items(), resumed.nets["G"].state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("cfg,message", [
    ({"gan": "nsgan", "perf": {"amp": "fp16"}}, "perf.amp = 'fp16': accepted values are none, bf16"),
    ({"gan": "nsgan", "perf": {"channels_last": True}},
     "perf.channels_last = true: only for the conv nets (net.arch = sndcgan | dcgan64); net.arch is 'toy_pacgan'"),
    ({"gan": "wgan_gp", "perf": {"compile": True}},
     "perf.compile = true: not with wgan_gp (its loss differentiates D's input gradients, a double backward "
     "compiled graphs do not support)"),
    ({"gan": "nsgan", "perf": {"compile": True}, "net": {"arch": "sndcgan", "sn": "pim"}, "data": {"name": "mnist"}},
     "perf.compile = true: not with net.sn = 'pim' (the power iteration updates D's vectors in place between "
     "the forwards of one backward; compiled on CUDA this fails, benchmarks/results/gpu.md)"),
    ({"gan": "nsgan", "perf": {"fast": True}}, "perf.fast: unknown key; accepted keys are amp, channels_last, compile"),
])
def test_unsupported_perf_settings_are_one_line_errors(cfg, message):
    with pytest.raises(ConfigError) as err:
        resolve_config(cfg)
    assert str(err.value) == message
