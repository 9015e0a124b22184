"""The training step never waits for the device: losses stay there until a LossWatch check.

Host synchronisations are counted as the calls that read a tensor's value on the host (``item``,
``float``, ``bool``, ``int``, ``tolist``, ``numpy``, ``cpu``) of float or bool tensors made from
the project's own code (torch's internal bookkeeping, e.g. Adam's step counters on the CPU, and
integer index tensors built on the host are left out), plus the operations whose output size
depends on the data (boolean-mask indexing, ``nonzero``, ``masked_select``, ``unique``: on CUDA
they run ``nonzero`` and wait for the device), through a ``TorchFunctionMode``: on CPU this counts
what would stall a GPU step. On a CUDA device the tests at the end count what CUDA itself reports.
"""

import math
import sys
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

from trainables.device import CudaSyncs
from trainables.loop import GanRun
from trainables.registry import GANS
from trainables.train import CHECK_EVERY, Diverged, LossWatch

ROOT = str(Path(__file__).resolve().parents[2])
READS = {"item", "__float__", "__bool__", "__int__", "__index__", "tolist", "numpy", "cpu"}
DATA_DEPENDENT = {"nonzero", "masked_select", "unique", "argwhere", "nonzero_static"}


def waits_for_values(func, args) -> bool:
    """True when ``func(*args)`` needs the tensor's values on the host (a read or a data-dependent size)."""
    name = getattr(func, "__name__", "")
    values = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if name in DATA_DEPENDENT:
        return True
    if name == "__getitem__" and len(args) > 1:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
    # integer tensors are host bookkeeping (a data stream's epoch order), never device results
    return name in READS and (values is None or values.is_floating_point() or values.dtype == torch.bool)


class HostReads(TorchFunctionMode):
    """Counts value reads of tensors by the project's code (not torch's, not this test's)."""

    def __init__(self, everywhere: bool = False):  # everywhere: this test's own calls too
        super().__init__()
        self.count, self.everywhere = 0, everywhere

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if waits_for_values(func, args):
            caller = sys._getframe(1).f_code.co_filename
            if self.everywhere or (caller.startswith(ROOT) and "/.venv/" not in caller and "/tests/" not in caller):
                self.count += 1
        return func(*args, **(kwargs or {}))


def syncs_per_step(cfg: dict, steps: int = 2 * CHECK_EVERY) -> float:
    run = GanRun(cfg)
    watch = LossWatch(run.cfg.optim.loss_bound)
    run.train_step()  # first-step allocations out of the count
    with HostReads() as reads:
        for _ in range(steps):  # what trainables.train.fit does between two evaluations
            watch.add(run.step, run.train_step())
        watch.check()
    return reads.count / steps


@pytest.mark.parametrize("gan", sorted(GANS))
def test_toy_step_reads_the_device_at_most_every_tenth_step(gan):
    rate = syncs_per_step({"gan": gan, "data": {"name": "grid25", "batch_size": 32}, "device": "cpu"})
    assert rate <= 0.1, f"{gan}: {rate} host reads per step"


@pytest.mark.parametrize("gan", ["gngan", "mmd_rep", "wgan_gp"])
def test_conv_step_reads_the_device_at_most_every_tenth_step(gan, tmp_path):
    from PIL import Image

    for i in range(4 * (2 * CHECK_EVERY + 4)):  # one epoch: its index list (host data) is read once per epoch
        Image.new("RGB", (32, 32), (i % 250, 0, 0)).save(tmp_path / f"{i}.png")
    cfg = {"gan": gan, "device": "cpu", "data": {"name": "folder", "root": str(tmp_path), "image_size": 32,
                                                  "batch_size": 4},
           "net": {"arch": "sndcgan", "sn": "pim", "kwargs": {"width": 0.0625}}}
    rate = syncs_per_step(cfg)
    assert rate <= 0.1, f"{gan}: {rate} host reads per step"


def test_the_counter_sees_boolean_mask_indexing():
    """The former off-diagonal means (``m[~eye]``: 3 to 12 CUDA waits per step) are counted."""
    m = torch.randn(4, 4)
    with HostReads(everywhere=True) as reads:
        m[~torch.eye(4, dtype=torch.bool)].mean()
        m[torch.tensor([0, 2])].sum()  # integer indices: no wait
    assert reads.count == 1


def test_the_counter_sees_a_per_step_float():
    """The measure can fail: the former loop (a float() per loss per step) counts 2 per step."""
    run = GanRun({"gan": "nsgan", "data": {"name": "ring8", "batch_size": 16}, "device": "cpu"})
    with HostReads() as reads:
        for _ in range(5):
            {k: float(v) for k, v in run.train(1, callback=lambda s, l: None).items()}
    assert reads.count == 5 * 2


def test_loss_watch_names_the_first_bad_step_and_hands_every_earlier_step_on():
    seen = []
    watch = LossWatch(10.0, on_losses=lambda step, losses: seen.append((step, losses)), every=5)
    for step in range(1, 6):
        watch.add(step, {"loss/d": torch.tensor(1.0 * step), "loss/g": torch.tensor(-1.0)})
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5] and seen[2][1] == {"loss/d": 3.0, "loss/g": -1.0}
    with pytest.raises(Diverged) as info:
        for step in range(6, 11):
            bad = float("nan") if step == 7 else 1.0
            watch.add(step, {"loss/d": torch.tensor(bad), "loss/g": torch.tensor(20.0 if step == 9 else 0.0)})
    assert info.value.step == 7 and math.isnan(info.value.losses["loss/d"])
    assert [s for s, _ in seen][-1] == 7  # later steps are never logged


def test_loss_watch_checks_the_bound_at_the_evaluation_before_a_full_block():
    watch = LossWatch(10.0, every=100)
    watch.add(1, {"loss/d": torch.tensor(11.0)})
    with pytest.raises(Diverged) as info:
        watch.check()
    assert info.value.step == 1


def cuda_syncs_per_step(cfg: dict, steps: int = 2 * CHECK_EVERY) -> float:
    """Host synchronisations per step as CUDA reports them (``CudaSyncs``: sync debug mode)."""
    run = GanRun(cfg)
    watch = LossWatch(run.cfg.optim.loss_bound)
    run.train_step()
    torch.cuda.synchronize()
    with CudaSyncs() as syncs:
        for _ in range(steps):
            watch.add(run.step, run.train_step())
        watch.check()
    return syncs.count / steps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("gan", sorted(GANS))
def test_cuda_toy_and_conv_steps_synchronise_at_most_every_tenth_step(gan, tmp_path):
    toy = {"gan": gan, "data": {"name": "grid25", "batch_size": 32}, "device": "cuda"}
    for i in range(4 * (2 * CHECK_EVERY + 4)):
        from PIL import Image

        Image.new("RGB", (32, 32), (i % 250, 0, 0)).save(tmp_path / f"{i}.png")
    conv = {"gan": gan, "device": "cuda", "data": {"name": "folder", "root": str(tmp_path), "image_size": 32,
                                                    "batch_size": 4},
            "net": {"arch": "sndcgan", "sn": "pim", "kwargs": {"width": 0.0625}}}
    rates = {name: cuda_syncs_per_step(cfg) for name, cfg in (("toy", toy), ("conv", conv))}
    assert max(rates.values()) <= 0.1, f"{gan}: host syncs per step {rates}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sync_counter_sees_an_item():
    x = torch.ones(3, device="cuda")
    with CudaSyncs() as syncs:
        for _ in range(3):
            x.sum().item()
    assert syncs.count == 3
