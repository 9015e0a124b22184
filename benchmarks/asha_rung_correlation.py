"""Do ASHA's early decisions predict the end? Spearman rank correlation between each trial's
value at a candidate first rung and its final value, for the old (``eval/modes``) and the new
(``eval/fit``) toy study metric; the grace period of the quickstart is chosen from this table.

Configurations are drawn from each GAN's own Optuna search space (``search_spaces``) with a
seeded RandomSampler, the paper/registered defaults first, on the study's base config (the
registered toy defaults of ``dataset``). Each configuration trains to ``--max-steps`` without Ray
(2 processes at a time, 1 thread each) and is evaluated every ``--eval-every`` steps on the
fixed 2,500-point evaluation noise. Per metric and rung r: Spearman rho between value(r) and
value(max_steps) over all configurations (ties averaged), and the median over configurations at
each rung (a metric that rewards scatter makes the median fall as training goes on).
Also measured: the cost of one ``toy_measures`` call on 2,500 points (median of 50).

    python benchmarks/asha_rung_correlation.py [--smoke-test] [--gans mmd_rep tripletgan]
        [--configs 8] [--max-steps 3000] [--eval-every 250] [--dataset grid25]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from trainables.metric_names import EVAL_FIT, EVAL_HQ, EVAL_MODES, EVAL_MODES_20  # noqa: E402

METRICS = (EVAL_MODES, EVAL_FIT)  # old and new default study metric
SMOKE = {"configs": 2, "max_steps": 40, "eval_every": 10, "gans": ["mmd_rep"]}
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "asha_rung_correlation.md"


def sample_configs(gan: str, dataset: str, n: int, seed: int) -> list[dict]:
    """The defaults' point, then n - 1 random points of the GAN's search space (flat dicts)."""
    import optuna

    import search_spaces
    from trainables.config import DATA_FAMILIES

    family = DATA_FAMILIES[dataset]
    points = [search_spaces.default_point(gan, family)]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), direction="maximize")
    space = search_spaces.bind_space(gan, family)
    while len(points) < n:
        trial = study.ask()
        points.append(space(trial))
        study.tell(trial, 0.0)
    return points


def train_curve(job: dict) -> dict:
    """Train one configuration; its curve ``[{step, metric: value}]`` and its wall time."""
    import torch

    import search_spaces
    from trainables.config import deep_merge, defaults_for
    from trainables.evaluation import build_evaluator
    from trainables.loop import GanRun

    torch.set_num_threads(1)
    base = deep_merge(defaults_for(job["gan"], job["dataset"]),
                      {"steps": job["max_steps"], "device": "cpu", "seed": job["seed"]})
    run = GanRun(search_spaces.point_config(base, job["point"]))
    evaluator = build_evaluator(run)
    curve, t0 = [], time.time()
    for step in range(0, job["max_steps"] + 1, job["eval_every"]):
        if step:
            run.train(job["eval_every"])
        curve.append({"step": step, **evaluator.evaluate(run)})
    return {**job, "curve": curve, "seconds": time.time() - t0}


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    rho = spearmanr(a, b).statistic
    return float(rho) if rho == rho else float("nan")  # constant input: undefined


def measure_cost() -> float:
    """Median seconds of one toy_measures call on 2,500 points of grid25."""
    import torch

    from trainables.metrics.toy import toy_measures

    pts = torch.randn(2500, 2) * 3
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        toy_measures(pts, "grid25")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def analyse(results: list[dict], max_steps: int) -> dict:
    steps = [p["step"] for p in results[0]["curve"]]
    rungs = [s for s in steps if 0 < s < max_steps]
    out = {"rungs": rungs, "rho": {}, "median": {}}
    for metric in METRICS:
        final = [r["curve"][-1][metric] for r in results]
        out["rho"][metric] = {r: spearman([c["curve"][steps.index(r)][metric] for c in results], final)
                              for r in rungs}
        out["median"][metric] = {s: statistics.median(c["curve"][steps.index(s)][metric] for c in results)
                                 for s in steps}
    return out


def plot(results: list[dict], analysis: dict, path: Path) -> None:
    from trainables.plots import new_figure, save_figure

    fig, axes = new_figure(figsize=(9, 3.4), ncols=2)
    colours = {gan: f"C{i}" for i, gan in enumerate(dict.fromkeys(r["gan"] for r in results))}
    for ax, metric in zip(axes, METRICS):
        for gan, colour in colours.items():
            for i, r in enumerate(r for r in results if r["gan"] == gan):
                ax.plot([p["step"] for p in r["curve"]], [p[metric] for p in r["curve"]], alpha=0.5,
                        color=colour, lw=1, label=gan if i == 0 else None)
        med = analysis["median"][metric]
        ax.plot([int(k) for k in med], list(med.values()), color="k", lw=2, label="median")
        rho = analysis["rho"][metric]
        shown = [k for k in rho if int(k) in (500, 1000, 2000)] or list(rho)[:3]
        ax.set_title(f"{metric}: rho(rung, final) = " + ", ".join(f"{rho[k]:.2f} @ {k}" for k in shown),
                     fontsize=8)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    save_figure(fig, path)


def markdown(results, analysis, args, cost: float) -> str:
    lines = ["# ASHA first-rung vs final value (Spearman rho)\n",
             f"{len(results)} configurations ({', '.join(args.gans)}, {args.configs} each: registered "
             f"defaults + random points of the search space, sampler seed {args.seed}) on "
             f"`{args.dataset}`, trained to {args.max_steps} steps, evaluated every {args.eval_every} "
             f"steps on 2,500 points. One `toy_measures` call (all measures incl. fit) on 2,500 "
             f"points: {cost * 1000:.2f} ms (median of 50).\n",
             "| rung (step) | " + " | ".join(f"rho {m}" for m in METRICS) + " |",
             "|---|" + "---|" * len(METRICS)]
    for r in analysis["rungs"]:
        lines.append(f"| {r} | " + " | ".join(f"{analysis['rho'][m][r]:.2f}" for m in METRICS) + " |")
    lines += ["", "Median over configurations at each evaluation:", "",
              "| step | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for s in analysis["median"][METRICS[0]]:
        lines.append(f"| {s} | " + " | ".join(f"{analysis['median'][m][s]:.3f}" for m in METRICS) + " |")
    lines += ["", "Final values per configuration:", "",
              "| gan | config | eval/fit | modes_20 | hq | modes | seconds |", "|---|---|---|---|---|---|---|"]
    for r in results:
        last = r["curve"][-1]
        point = ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                          for k, v in sorted(r["point"].items()))
        lines.append(f"| {r['gan']} | {point} | {last[EVAL_FIT]:.3f} | {last[EVAL_MODES_20]:.0f} | "
                     f"{last[EVAL_HQ]:.2f} | {last[EVAL_MODES]:.0f} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke-test", action="store_true", help="CI size: 2 configs x 40 steps")
    parser.add_argument("--gans", nargs="+", default=["mmd_rep", "tripletgan"])
    parser.add_argument("--configs", type=int, default=8, help="configurations per GAN")
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--dataset", default="grid25")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default=None, help=f"markdown output (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.configs, args.max_steps, args.eval_every, args.gans = (
            SMOKE["configs"], SMOKE["max_steps"], SMOKE["eval_every"], SMOKE["gans"])
    out = Path(args.out) if args.out else (None if args.smoke_test else DEFAULT_OUT)
    jobs = [{"gan": gan, "dataset": args.dataset, "point": point, "max_steps": args.max_steps,
             "eval_every": args.eval_every, "seed": args.seed}
            for gan in args.gans for point in sample_configs(gan, args.dataset, args.configs, args.seed)]
    results = []
    with mp.get_context("spawn").Pool(args.processes) as pool:
        for i, res in enumerate(pool.imap(train_curve, jobs), 1):
            last = res["curve"][-1]
            print(f"[{i}/{len(jobs)}] {res['gan']}: fit {last[EVAL_FIT]:.3f} modes_20 "
                  f"{last[EVAL_MODES_20]:.0f} hq {last[EVAL_HQ]:.2f} ({res['seconds']:.0f} s)", flush=True)
            results.append(res)
    analysis = analyse(results, args.max_steps)
    text = markdown(results, analysis, args, measure_cost())
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "analysis": analysis,
                                                        "results": results}, indent=1, default=str))
        plot(results, analysis, out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
