"""What generator EMA buys on the 2D mixtures, per half-life: one training, several averages.

Each (GAN, mixture, seed) trains once at its registered toy defaults with the average off, while
one :class:`trainables.ema.GeneratorEMA` per ``--halflives`` value (kimg, EDM's ramp-up 0.05) follows
the same generator; every ``--every`` steps the raw generator and each average are measured on the
same 2,500 latent codes (PacGAN's protocol: modes_20, % HQ, fit). Writes
``benchmarks/results/ema_toy.md`` (+ ``.json``) and, per mixture, a scatter of the last step's raw
generator beside the registered half-life's average::

    python benchmarks/ema_toy.py --mixtures grid25 --seeds 0 1      # the committed table: these two runs,
    python benchmarks/ema_toy.py --mixtures irregular12 --seeds 0   # rows accumulate in the .json
    python benchmarks/ema_toy.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from trainables import metric_names as M  # noqa: E402
from trainables.config import FAMILY_DEFAULTS  # noqa: E402
from trainables.ema import GeneratorEMA  # noqa: E402
from trainables.evaluation import build_evaluator  # noqa: E402
from trainables.loop import GanRun  # noqa: E402
from trainables.plots import scatter_plot  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
REGISTERED = FAMILY_DEFAULTS["toy"]["ema"]["halflife_kimg"]
KEYS = (M.EVAL_MODES_20, M.EVAL_HQ, M.EVAL_FIT)
# A user mixture no default was tuned on: 12 modes at irregular places and distances, std 0.05.
IRREGULAR = {"kind": "means", "std": 0.05, "means": [
    [-3.1, 2.7], [-1.2, 3.4], [0.9, 2.2], [3.3, 3.0], [-3.6, -0.4], [-1.4, 0.8], [1.6, -0.3],
    [3.8, 0.9], [-2.5, -2.9], [-0.2, -1.9], [1.9, -3.3], [3.4, -2.2]]}
MIXTURES = {"grid25": {"name": "grid25"}, "irregular12": {"name": "mixture", "mixture": IRREGULAR}}
SMOKE = {"gans": ["mmd_rep"], "mixtures": ["grid25"], "seeds": [0], "steps": 20, "every": 10, "halflives": [1.0]}


def run_one(gan: str, mixture: str, seed: int, steps: int, every: int, halflives: list[float],
            plot_dir: Path | None) -> list[dict]:
    torch.set_num_threads(1)
    run = GanRun({"gan": gan, "data": MIXTURES[mixture], "steps": steps, "seed": seed, "device": "cpu",
                  "ema": {"halflife_kimg": 0}})
    evaluator = build_evaluator(run)
    emas = {h: GeneratorEMA(run.nets["G"], h, rampup=0.05) for h in halflives}
    rows, t0, batch = [], time.time(), run.cfg.data.batch_size
    while run.step < steps:
        run.train_step()
        for ema in emas.values():
            ema.update(run.nets["G"], cur_nimg=run.step * batch, batch_size=batch)
        if run.step % every and run.step != steps:
            continue
        for h, ema in [(0.0, None)] + list(emas.items()):
            points = run.generate(evaluator.z, raw=True) if ema is None else generate(ema.net, evaluator.z)
            m = evaluator.measure(points)
            rows.append({"gan": gan, "mixture": mixture, "seed": seed, "step": run.step, "halflife_kimg": h,
                         **{k: m[k] for k in KEYS}})
            if plot_dir is not None and run.step == steps and h in (0.0, REGISTERED):
                label = "raw G" if h == 0 else f"EMA {h:g} kimg"
                scatter_plot(points, evaluator.mixture, f"{gan} on {mixture}, step {steps}, {label}",
                             plot_dir / f"{gan}-{mixture}-s{seed}-{'raw' if h == 0 else 'ema'}.png")
    print(f"{gan} {mixture} seed {seed}: {time.time() - t0:.0f} s", flush=True)
    return rows


@torch.no_grad()
def generate(net, z: torch.Tensor) -> torch.Tensor:
    return net(z)  # an average is always in eval mode (BatchNorm running statistics)


def _job(job) -> list[dict]:
    return run_one(*job)


def table(rows: list[dict], args) -> str:
    lines = ["# Generator EMA on the 2D mixtures", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"Setting: {args.steps} steps, registered toy defaults (PacGAN nets, batch 100; TTUR Adam of each "
             "GAN's toy preset), the seeds in each heading; mean over seeds. Half-life 0 = the raw generator. The "
             f"registered half-life is {REGISTERED:g} kimg. `irregular12`: 12 modes at irregular places "
             "(a user mixture no default was tuned on).", ""]
    marks = sorted({r["step"] for r in rows})
    shown = [s for s in marks if s >= marks[-1] * 0.5]
    for (gan, mixture) in dict.fromkeys((r["gan"], r["mixture"]) for r in rows):
        seeds = sorted({r["seed"] for r in rows if (r["gan"], r["mixture"]) == (gan, mixture)})
        lines += [f"## {gan} on {mixture} (seeds {', '.join(map(str, seeds))})", "",
                  "| half-life (kimg) | " + " | ".join(f"step {s}: modes_20 / % HQ / fit" for s in shown) + " |",
                  "|---|" + "---|" * len(shown)]
        for h in sorted({r["halflife_kimg"] for r in rows}):
            cells = []
            for s in shown:
                sel = [r for r in rows if (r["gan"], r["mixture"], r["step"], r["halflife_kimg"]) == (gan, mixture, s, h)]
                if not sel:
                    cells.append("")
                    continue
                mean = {k: statistics.mean(r[k] for r in sel) for k in KEYS}
                cells.append(f"{mean[M.EVAL_MODES_20]:.1f} / {100 * mean[M.EVAL_HQ]:.0f}% / {mean[M.EVAL_FIT]:.3f}")
            label = "raw" if h == 0 else f"{h:g}" + (" (registered)" if h == REGISTERED else "")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gans", nargs="+", default=["mmd_rep", "tripletgan"])
    parser.add_argument("--mixtures", nargs="+", default=list(MIXTURES), choices=list(MIXTURES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--halflives", nargs="+", type=float, default=[1.0, REGISTERED, 5.0, 10.0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "ema_toy"), help="output prefix (.md/.json)")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: 1 GAN, 20 steps, temp output")
    args = parser.parse_args(argv)
    if args.smoke_test:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        args.out = str(Path(tempfile.mkdtemp()) / "ema_toy")
    out = Path(args.out)
    plot_dir = out.parent / (out.name + "_scatter")
    plot_dir.mkdir(parents=True, exist_ok=True)
    path = out.with_suffix(".json")
    rows: list[dict] = [r for r in (json.loads(path.read_text())["rows"] if path.exists() else [])
                        if r["halflife_kimg"] in [0.0] + args.halflives]  # runs accumulate across invocations
    done = {(r["gan"], r["mixture"], r["seed"]) for r in rows if r["step"] == args.steps}
    rows = [r for r in rows if (r["gan"], r["mixture"], r["seed"]) in done]
    jobs = [(g, m, s, args.steps, args.every, args.halflives, plot_dir)
            for m in args.mixtures for g in args.gans for s in args.seeds if (g, m, s) not in done]
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        for result in pool.imap_unordered(_job, jobs):
            rows += result
            path.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
            out.with_suffix(".md").write_text(table(rows, args))
    print(out.with_suffix(".md").read_text(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
