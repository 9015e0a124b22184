"""MNIST class balance (TripletGAN table 1) and domain-FID curves: vanilla GAN vs the metric GANs.

Each GAN of ``--gans`` is trained on the real MNIST t10k split (padded to 32x32) with its registered
MNIST nets: the MLPs of TripletGAN (appendix B.2: the ``mnist`` family defaults, ``mlp_mnist``), or
for MLGAN and MBGAN the DCGAN-style conv nets their papers use (``sndcgan``; spectral norm off for
MLGAN, on for MBGAN; at their registered channel width unless ``--width`` is given); batch ``--batch-size`` for CPU; and evaluated every ``--every`` steps on ``--num-samples`` generated
digits with the MNIST classifier (``trainables.metrics.mnist_classifier``): domain FID (its
128-d features vs as many real digits), and TripletGAN's measure, the entropy and the L2 distance
to uniform of the predicted-class histogram. The last evaluation is the table row; every
evaluation is a point of the curves. ``vanilla GAN`` = ``nsgan`` (the non-saturating GAN).

Writes ``benchmarks/results/mnist_class_balance.md``, ``.json`` and ``.png`` (domain FID and
class entropy against steps), and 100 digits of each GAN's last generator (first seed) in
``mnist_class_balance_samples/<gan>.png``::

    python benchmarks/mnist_class_balance.py --steps 100000 --every 5000      # paper budget
    python benchmarks/mnist_class_balance.py --steps 5000 --every 1000 --processes 2   # 3 seeds
    python benchmarks/mnist_class_balance.py --steps 2000 --every 500 --gans nsgan tripletgan --seeds 1
    python benchmarks/mnist_class_balance.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import torch  # noqa: E402

from trainables.config import REPO_ROOT, defaults_for  # noqa: E402
from trainables.loop import GanRun  # noqa: E402
from trainables.plots import image_grid  # noqa: E402
from trainables.registry import metric_learning_gans  # noqa: E402
from trainables.train import fit  # noqa: E402
from trainables import metric_names as M  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_STEPS = 100000  # TripletGAN's table 1 budget
DEFAULT_EVERY = 5000  # evaluation interval (curve points)
DEFAULT_SAMPLES = 10000  # generated digits per evaluation (table 1: 10k)
DEFAULT_BATCH = 64  # CPU batch (the paper's MLPs use 256)
DEFAULT_SEEDS = (0, 1, 2)  # run seeds
PUBLISHED = {"vanilla GAN": (1.469, 0.502), "EBGAN": (2.046, 0.060), "TripletGAN": (2.073, 0.057)}
SMOKE = {"steps": 20, "every": 10, "num_samples": 200, "gans": ["nsgan", "mlgan"]}  # CI size


def train_one(gan: str, seed: int, args) -> dict:
    torch.set_num_threads(1)
    net = {"kwargs": {"width": args.width}} if args.width is not None and uses_conv_nets(gan) else {}
    config = {"gan": gan, "data": {"name": "mnist", "batch_size": args.batch_size}, "net": net,
              "steps": args.steps, "seed": seed, "device": "cpu",
              "eval": {"every": args.every, "num_samples": args.num_samples, "kid_subsets": 0,
                       "cache_dir": str(REPO_ROOT / ".cache" / "metrics")}}
    run = GanRun(config)
    t0 = time.time()
    curve = []

    def on_eval(run, metrics, is_best):
        curve.append({k: float(v) for k, v in metrics.items()})
        print(f"[{gan} seed {seed}] step {run.step}: FID {metrics[M.EVAL_FID]:.1f}, entropy "
              f"{metrics[M.EVAL_CLASS_ENTROPY]:.3f}, L2 {metrics[M.EVAL_CLASS_L2]:.3f} "
              f"({time.time() - t0:.0f} s)", flush=True)

    fit(run, on_eval=on_eval)
    width = run.cfg.net.kwargs.get("width")  # the conv nets' channel multiplier
    if seed == min(args.seeds):  # look at them: 100 digits of the last generator per GAN
        image_grid(run.generate(run.sample_z(100, torch.Generator().manual_seed(0))),
                   samples_path(args.out, gan))
    return {"gan": gan, "seed": seed, "steps": args.steps, "seconds": round(time.time() - t0, 1),
            "nets": run.cfg.net.arch + (f" x{width}" if width else "")
            + ("" if run.cfg.net.sn == "none" else f" SN-{run.cfg.net.sn}"),
            "curve": curve, **curve[-1]}


def samples_path(out: str, gan: str) -> Path:
    """The first seed's final samples of ``gan``: ``<out>_samples/<gan>.png``."""
    return Path(f"{out}_samples") / f"{gan}.png"


def uses_conv_nets(gan: str) -> bool:
    """Whether ``gan``'s registered MNIST nets are the conv ``sndcgan`` (``--width`` sets their width)."""
    return defaults_for(gan, "mnist").get("net", {}).get("arch") == "sndcgan"


def _job(job) -> dict:
    gan, seed, args = job
    return train_one(gan, seed, args)


def _mean_std(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def render(rows: list[dict], args) -> str:
    gans = list(dict.fromkeys(r["gan"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    lines = ["# MNIST class balance (TripletGAN table 1 measure) and domain FID",
             "",
             f"Each GAN at its registered MNIST defaults and nets (`nets` column: TripletGAN's MLPs "
             f"`mlp_mnist`; MLGAN and MBGAN the DCGAN-style conv nets of their papers, `sndcgan`, with "
             f"spectral norm where the row says `SN-pim`; `x0.125` = 1/8 of Table S1's channels), real MNIST t10k split (32x32), {args.steps} steps, "
             f"batch {args.batch_size}, seeds {', '.join(map(str, seeds))} (mean ± std over seeds), CPU "
             f"1 thread. {args.num_samples} generated digits "
             f"per evaluation, classified by the MNIST classifier (99.3% held-out accuracy); domain FID "
             f"in its 128-d feature space vs {args.num_samples} real digits. `vanilla GAN` = `nsgan`. "
             f"`seconds` is wall time per run (runs share the machine: not a speed measurement).",
             "",
             f"| GAN | nets | seeds | class entropy (ideal {math.log(10):.3f}) | min over seeds | L2 to uniform "
             f"(ideal 0) | domain FID | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for gan in gans:
        mine = [r for r in rows if r["gan"] == gan]
        ent = [r[M.EVAL_CLASS_ENTROPY] + 0.0 for r in mine]
        nets = ", ".join(sorted({r.get("nets", "mlp_mnist") for r in mine}))
        lines.append(f"| {gan} | {nets} | {len(mine)} | {_mean_std(ent, 3)} | {min(ent):.3f} | "
                     f"{_mean_std([r[M.EVAL_CLASS_L2] for r in mine], 3)} | "
                     f"{_mean_std([r[M.EVAL_FID] for r in mine], 1)} | "
                     f"{statistics.fmean(r['seconds'] for r in mine):.0f} |")
    for name, (ent, l2) in PUBLISHED.items():
        lines.append(f"| *{name}* (published, 100k steps) | - | - | {ent:.3f} | - | {l2:.3f} | - | - |")
    lines += ["", "## Curves (every evaluation)", "",
              "| GAN | seed | step | domain FID | class entropy | L2 to uniform |", "|---|---|---|---|---|---|"]
    for r in rows:
        for m in r["curve"]:
            lines.append(f"| {r['gan']} | {r['seed']} | {int(m['step'])} | {m[M.EVAL_FID]:.1f} | "
                         f"{m[M.EVAL_CLASS_ENTROPY] + 0.0:.3f} | {m[M.EVAL_CLASS_L2]:.3f} |")
    lines += ["", f"Plot: [{Path(args.out).name}.png]({Path(args.out).name}.png) (first seed's curves)"]
    grids = [(gan, samples_path(args.out, gan)) for gan in gans if samples_path(args.out, gan).is_file()]
    if grids:
        lines += ["", f"## Samples (seed {min(seeds)}, step {args.steps})", ""]
        for gan, path in grids:
            lines += [f"{gan}:", "", f"![{gan}]({path.parent.name}/{path.name})", ""]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    from trainables.plots import new_figure, save_figure

    fig, (ax1, ax2) = new_figure(figsize=(9, 3.4), ncols=2)
    first = min(r["seed"] for r in rows)
    for r in (r for r in rows if r["seed"] == first):
        steps = [m["step"] for m in r["curve"]]
        ax1.plot(steps, [m[M.EVAL_FID] for m in r["curve"]], marker="o", label=r["gan"])
        ax2.plot(steps, [m[M.EVAL_CLASS_ENTROPY] for m in r["curve"]], marker="o", label=r["gan"])
    ax2.axhline(math.log(10), color="gray", linestyle="--", linewidth=1, label="ideal ln 10")
    ax1.set(xlabel="step", ylabel="domain FID", title="domain FID (MNIST classifier)")
    ax1.set_yscale("log")
    ax2.set(xlabel="step", ylabel="class entropy (nats)", title="class entropy of generated digits")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    save_figure(fig, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gans", nargs="+", default=["nsgan", *metric_learning_gans()],
                        help="GANs (default: vanilla GAN and every metric-learning GAN)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--every", type=int, default=DEFAULT_EVERY)
    parser.add_argument("--num-samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--width", type=float, default=None,
                        help="channel multiplier of the conv nets (MLGAN, MBGAN; default: their registered "
                             "width, 1/8; 1: Table S1's channels)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--processes", type=int, default=1, help="runs at once (1 thread each)")
    parser.add_argument("--out", default=str(RESULTS / "mnist_class_balance"), help="output prefix")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: 20 steps, 200 digits, temp output")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.steps, args.every, args.num_samples, args.gans = (SMOKE["steps"], SMOKE["every"],
                                                               SMOKE["num_samples"], SMOKE["gans"])
        args.seeds = [0]
        args.out = str(Path(tempfile.mkdtemp()) / "mnist_class_balance")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    store = out.with_suffix(".json")  # results accumulate: runs already there are not repeated
    saved = json.loads(store.read_text()) if store.is_file() else {}
    mine = lambda r: r.get("steps") == args.steps and "seed" in r  # noqa: E731  (rows of this table)
    others = [r for r in saved.get("rows", []) if not mine(r)]  # kept in the .json, not in this table
    rows = [r for r in saved.get("rows", []) if mine(r)]
    jobs = [(gan, seed, args) for gan in args.gans for seed in args.seeds
            if not any(r["gan"] == gan and r["seed"] == seed for r in rows)]
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        for row in pool.imap_unordered(_job, jobs):
            rows.append(row)
            order = {g: i for i, g in enumerate(args.gans)}
            rows.sort(key=lambda r: (order.get(r["gan"], len(order)), r["seed"]))
            store.write_text(json.dumps({"args": {k: v for k, v in vars(args).items()}, "rows": others + rows},
                                        indent=1))
            out.with_suffix(".md").write_text(render(rows, args))
            plot(rows, out.with_suffix(".png"))
    print(render(rows, args), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
