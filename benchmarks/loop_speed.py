"""The project's training step against a minimal hand-written PyTorch loop with the same nets.

For each (GAN, net) pair, one process thread (``torch.set_num_threads(1)``, CPU): steps/s of

- ``project``: what :func:`trainables.train.fit` runs between two evaluations, a
  :meth:`GanRun.train_step` (objective, ``Draw``, generator EMA at the registered half-life) plus
  :meth:`LossWatch.add` (losses stay on the device, one transfer every 25 steps);
- ``minimal``: the same G, D and Adam settings built by the project, trained by a loop written out
  here the way a tutorial would (fresh batches, the GAN's loss functions called directly,
  ``zero_grad`` / ``backward`` / ``step``, the same EMA update inline, no loss read at all).

Both are timed alternately in blocks of ``--block`` steps after a warm-up (the median over
``--repeats`` blocks; alternating cancels drift on a shared machine). ``--perf KEY=JSON`` adds a
third loop to the alternation: the project's step with those ``run.perf`` options (e.g.
``compile=true``), reported as its steps/s and its speed-up over the default step. Writes
``benchmarks/results/loop_speed.md`` (+ ``.json``)::

    python benchmarks/loop_speed.py
    python benchmarks/loop_speed.py --settings toy --perf compile=true --out benchmarks/results/loop_speed_compile
    python benchmarks/loop_speed.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from trainables import losses as L  # noqa: E402
from trainables.config import resolve_config  # noqa: E402
from trainables.loop import GanRun  # noqa: E402
from trainables.schema import ConfigError  # noqa: E402
from trainables.train import LossWatch, overrides_from_sets  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
# (label, run config): the toy PacGAN nets and the SN-DCGAN conv nets (MNIST width 1/8, batch 64)
SETTINGS = {
    "toy": {"data": {"name": "grid25"}},
    "conv": {"data": {"name": "mnist", "batch_size": 64}, "net": {"arch": "sndcgan", "sn": "pim",
                                                                 "kwargs": {"width": 0.125}}},
}
GANS = ("nsgan", "mmd_rep")
PERF_HEAD = " with perf steps/s | speed-up over project |"
SMOKE = {"block": 3, "repeats": 2, "warmup": 2, "settings": ["toy"], "perf": {"amp": "bf16"}}  # the third loop too


def minimal_losses(gan: str, run: GanRun):
    """(d_loss(x, z), g_loss(x, z)) of ``gan`` written out with the loss functions themselves."""
    G, D, h = run.nets["G"], run.nets["D"], run.cfg.hparams
    if gan == "nsgan":
        return (lambda x, z: L.nsgan_d_loss(D(x).reshape(-1), D(G(z).detach()).reshape(-1)),
                lambda x, z: L.nsgan_g_loss(D(G(z)).reshape(-1)))
    bounds = (h.b_l, h.b_u) if h.bounded else None
    return (lambda x, z: L.mmd_d_loss(D(x), D(G(z).detach()), h.lam, sigma=h.sigma, bounds=bounds),
            lambda x, z: L.mmd_g_loss(D(x), D(G(z)), sigma=h.sigma))


def minimal_loop(gan: str, run: GanRun):
    """A closure running n steps of the hand-written loop on ``run``'s nets and optimisers."""
    d_loss, g_loss = minimal_losses(gan, run)
    G, opt_d, opt_g, ema = run.nets["G"], run.optims["D"], run.optims["G"], run.ema
    batch, z_dim, device = run.cfg.data.batch_size, run.cfg.net.z_dim, run.device
    beta = 0.5 ** (batch / (run.cfg.ema.halflife_kimg * 1000)) if ema is not None else None

    def steps(n: int) -> None:
        for _ in range(n):
            x, z = run.stream.next(), torch.randn(batch, z_dim, device=device)
            opt_d.zero_grad(set_to_none=True)
            d_loss(x, z).backward()
            opt_d.step()
            x, z = run.stream.next(), torch.randn(batch, z_dim, device=device)
            opt_g.zero_grad(set_to_none=True)
            g_loss(x, z).backward()
            opt_g.step()
            if ema is not None:  # image families register no EMA
                with torch.no_grad():
                    torch._foreach_lerp_(list(ema.net.parameters()), list(G.parameters()), 1 - beta)
    return steps


def project_loop(run: GanRun):
    watch = LossWatch(run.cfg.optim.loss_bound)

    def steps(n: int) -> None:
        for _ in range(n):
            watch.add(run.step, run.train_step())
        watch.check()
    return steps


def sync(device: str) -> None:
    """Wait for the device (CUDA timings end when the queued work has run)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(gan: str, setting: str, args, device: str = "cpu") -> dict:
    cfg = {"gan": gan, "device": device, "seed": 0, **SETTINGS[setting]}
    loops = {"project": project_loop(GanRun(cfg))}
    other = GanRun(cfg)
    loops["minimal"] = minimal_loop(gan, other)
    if args.perf:
        loops["perf"] = project_loop(GanRun({**cfg, "perf": args.perf}))
    for loop in loops.values():
        loop(args.warmup)
    times: dict[str, list[float]] = {k: [] for k in loops}
    for _ in range(args.repeats):
        for name, loop in loops.items():
            sync(device)
            t0 = time.perf_counter()
            loop(args.block)
            sync(device)
            times[name].append((time.perf_counter() - t0) / args.block)
    med = {k: statistics.median(v) for k, v in times.items()}
    row = {"gan": gan, "nets": setting, "project_steps_s": 1 / med["project"], "minimal_steps_s": 1 / med["minimal"],
           "ratio": med["minimal"] / med["project"]}
    if args.perf:
        row.update(perf_steps_s=1 / med["perf"], perf_speedup=med["project"] / med["perf"])
    print(f"{gan} {setting}: project {row['project_steps_s']:.1f} steps/s, minimal {row['minimal_steps_s']:.1f}, "
          f"ratio {row['ratio']:.3f}" + (f", with perf {row['perf_steps_s']:.1f} ({row['perf_speedup']:.2f}x)"
                                         if args.perf else ""), flush=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", type=int, default=50, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks per loop (median)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--perf", action="append", default=[], metavar="KEY=JSON",
                        help="also time the project's step with this run.perf option (repeatable)")
    parser.add_argument("--out", default=str(RESULTS / "loop_speed"), help="output prefix (.md/.json)")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: toy nets, a few steps, temp output")
    args = parser.parse_args(argv)
    try:  # a bad --perf is a one-line error before anything is timed (the syntax of train.py --set)
        args.perf = overrides_from_sets(args.perf)
    except ValueError as exc:
        parser.error(f"--perf {exc}")
    for gan in GANS if args.perf else ():
        for setting in args.settings:
            try:
                resolve_config({"gan": gan, "device": "cpu", **SETTINGS[setting], "perf": args.perf})
            except ConfigError as exc:
                parser.error(f"--perf: {exc}")
    if args.smoke_test:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        args.out = str(Path(tempfile.mkdtemp()) / "loop_speed")
    torch.set_num_threads(1)
    rows = [measure(gan, setting, args) for setting in args.settings for gan in GANS]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    lines = ["# The project's training step vs a minimal hand-written loop (CPU, 1 thread)", "",
             "\n\n".join(__doc__.split("\n\n")[1:4]).replace("::", ":"), "",
             f"Blocks of {args.block} steps, median of {args.repeats}, after {args.warmup} warm-up steps. "
             "Ratio = project steps/s over minimal steps/s (>= 0.95 is the target).", "",
             "| GAN | nets | project steps/s | minimal steps/s | ratio |" + (PERF_HEAD if args.perf else ""),
             "|---|---|---|---|---|" + ("---|---|" if args.perf else "")]
    if args.perf:
        lines[-4] += f" With perf ({json.dumps(args.perf)}): the project's step with those options, timed in the same alternation."
    lines += [f"| {r['gan']} | {r['nets']} | {r['project_steps_s']:.1f} | {r['minimal_steps_s']:.1f} | "
              f"{r['ratio']:.3f} |" + (f" {r['perf_steps_s']:.1f} | {r['perf_speedup']:.2f} |" if args.perf else "")
              for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(out.with_suffix(".md").read_text(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
