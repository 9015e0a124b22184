"""ASHA vs full budget on the SAME trials: quality kept and steps spent.

The question a user of ASHA asks: "on grid25 with N trials per GAN, does the study reach (within
5%) the best final ``eval/fit`` that running every trial to the full budget reaches, and what
fraction of the steps does it spend?" For each GAN this runs two studies through
``study.lifecycle.run_study``, each in its own temporary ``storage_path`` (sqlite MLflow + Optuna
DB inside), at the registered toy defaults and the study default metric (``eval/fit``, what ASHA
decides on):

1. ``full``: ``scheduler.type = "none"`` (FIFO: every trial trains ``max_steps``);
2. ``asha``: ASHA with the quickstart's rungs (``grace_period`` 1,000 steps, the first rung whose
   value predicts the final one in ``asha_rung_correlation.md``; ``reduction_factor = 3``,
   ``max_t = max_steps``).

Both use ``search.sampler = "random"`` with the same seed. Optuna's RandomSampler draws from one
seeded generator in ask order, and the searcher asks one trial at a time in the driver, so both
studies get the same configurations whatever the scheduler does (the registered defaults come
first). This is checked: the multiset of trial parameters must be identical, else the script fails.

Measured per study, from Tune's per-trial ``result.json`` (one line per ``tune.report``, i.e. per
evaluation) under ``<storage_path>/<study>/<gan>/``:

- total trial-steps: the sum over trials of each trial's last reported ``step``;
- wall time of ``run_study`` (Ray start-up included);
- best ``eval/fit`` over the trials' LAST reported values ("final") and over every evaluation at
  or after the first rung ("any eval"), with ``eval/modes_20`` and ``eval/hq`` of the trial whose
  final ``eval/fit`` is best.

"within 5%?" is judged on the final values: ASHA best fit >= 0.95 x full best fit. The steps ratio
is set beside the least a synchronous successive halving with these rungs would spend (every trial
to the first rung, a third of them on to the next, ...).
Prints a markdown table and writes it (``benchmarks/results/asha_vs_full.md``; the smoke test
writes into a temporary directory instead)::

    python benchmarks/asha_vs_full.py [--smoke-test] [--gans mmd_rep tripletgan] [--trials 16]
        [--max-steps 3000] [--eval-every 500] [--grace 1000] [--out benchmarks/results/asha_vs_full.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from trainables.metric_names import EVAL_FIT, EVAL_HQ, EVAL_MODES_20  # noqa: E402

DEFAULT_GANS = ("mmd_rep", "tripletgan")  # the quickstart's GANs
DEFAULT_TRIALS = 16  # trials per GAN (N of the target)
DEFAULT_MAX_STEPS = 3000  # full budget per trial (the quickstart's second rung)
DEFAULT_EVAL_EVERY = 500  # evaluation = report interval (the quickstart's)
DEFAULT_GRACE = 1000  # ASHA's first rung (the quickstart's; asha_rung_correlation.md)
REDUCTION_FACTOR = 3  # ASHA keeps the top third at each rung
TOLERANCE = 0.05  # "within 5%" of the full-budget best
SEED = 0  # sampler seed, identical in both studies
SMOKE = {"trials": 2, "max_steps": 60, "eval_every": 30, "grace": 30}  # --smoke-test size (CI, < 90 s)
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "asha_vs_full.md"
SKIP_KEYS = ("run", "study", "grid_point")  # trial config keys that are not searched params


def study_doc(name: str, gan: str, storage: Path, trials: int, max_steps: int, eval_every: int,
              grace: int, scheduler: str) -> dict:
    """A grid25 study document of one GAN with a seeded random sampler and the given scheduler."""
    sched = {"type": scheduler}
    if scheduler == "asha":
        sched.update(grace_period=grace, reduction_factor=REDUCTION_FACTOR, max_t=max_steps)
    return {"name": name, "gans": [gan], "storage_path": str(storage), "max_concurrent": 2,
            "max_failures": 1,
            "run": {"steps": max_steps, "data": {"name": "grid25"}, "eval": {"every": eval_every}},
            "search": {"samples_per_gan": trials, "sampler": "random", "seed": SEED},
            "scheduler": sched, "resources": {"cpu": 1, "gpu": 0},
            "mlflow": {"register_model": False}}  # the registry is not what is measured


def read_trials(exp_dir: Path) -> list[dict]:
    """Per trial dir of a Tune experiment: ``{params, reports}`` from params.json / result.json
    (reports sorted by step, duplicates from a retried trial collapsed to the last one)."""
    trials = []
    for result_file in sorted(exp_dir.glob("*/result.json")):
        by_step = {}
        for line in result_file.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if "step" in row:
                    by_step[int(row["step"])] = row
        params_file = result_file.with_name("params.json")
        config = json.loads(params_file.read_text()) if params_file.is_file() else {}
        params = {k: v for k, v in config.items() if k not in SKIP_KEYS}
        trials.append({"params": params, "reports": [by_step[s] for s in sorted(by_step)]})
    return trials


def _fit(report: dict) -> float:
    value = report.get(EVAL_FIT)
    return float(value) if value is not None else float("-inf")


def summarize(trials: list[dict], grace: int) -> dict:
    """Total steps, best final / any-eval fit (and modes_20, hq of the best final) of one study."""
    done = [t for t in trials if t["reports"]]
    last = [t["reports"][-1] for t in done]
    every = [r for t in done for r in t["reports"] if int(r["step"]) >= grace]
    top = max(last, key=_fit)
    return {"trials": len(trials), "total_steps": sum(int(r["step"]) for r in last),
            "fit": _fit(top), "modes_20": float(top.get(EVAL_MODES_20, float("nan"))),
            "hq": float(top.get(EVAL_HQ, float("nan"))), "fit_any": max(map(_fit, every or last)),
            "stopped": sum(1 for r in last if int(r["step"]) < max(int(x["step"]) for x in last))}


def halving_ratio(rungs: list[int], max_steps: int) -> float:
    """Steps of synchronous successive halving over ASHA's ``rungs`` (``Study.asha_rungs``; a third
    goes on at each) over the full budget: the least ASHA with these rungs spends."""
    spent, prev, frac = 0.0, 0, 1.0
    for r in rungs + [max_steps]:
        spent += frac * (r - prev)
        prev, frac = r, frac / REDUCTION_FACTOR
    return spent / max_steps


def param_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def run_one(gan: str, scheduler: str, storage: Path, args) -> dict:
    """Run one study (``full`` or ``asha``) and summarize its trials."""
    from study.study_file import parse_study
    from study.lifecycle import run_study
    from study.sweep import SWEEP_DIR

    label = "full" if scheduler == "none" else "asha"
    name = f"asha-vs-full-{gan}-{label}"
    study = parse_study(study_doc(name, gan, storage, args.trials, args.max_steps,
                                  args.eval_every, args.grace, scheduler))
    t0 = time.perf_counter()
    run_study(study)
    wall = time.perf_counter() - t0
    trials = read_trials(study.study_dir / SWEEP_DIR)
    return {"gan": gan, "study": label, "wall_s": wall, **summarize(trials, args.grace),
            "rungs": study.asha_rungs, "params": Counter(param_key(t["params"]) for t in trials)}


def within(asha: float, full: float) -> bool:
    return asha >= (1 - TOLERANCE) * full


def table(rows: list[dict], args) -> str:
    """The markdown table (one full + one asha row per GAN)."""
    head = ("| GAN | study | trials | stopped early | total steps | steps ratio (asha/full) | wall s | "
            "best fit (final) | its modes_20 | its hq | best fit (any eval >= grace) | within 5%? |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    by = {(r["gan"], r["study"]): r for r in rows}
    for r in rows:
        full = by[(r["gan"], "full")]
        if r["study"] == "full":
            ratio, verdict = "1.000", "(reference)"
        else:
            ratio = f"{r['total_steps'] / full['total_steps']:.3f}"
            verdict = "yes" if within(r["fit"], full["fit"]) else "no"
        lines.append(f"| {r['gan']} | {r['study']} | {r['trials']} | {r['stopped']} | {r['total_steps']} | "
                     f"{ratio} | {r['wall_s']:.0f} | {r['fit']:.3f} | {r['modes_20']:.0f} | "
                     f"{r['hq']:.3f} | {r['fit_any']:.3f} | {verdict} |")
    return "\n".join(lines)


def report(rows: list[dict], args) -> str:
    """The markdown report: sizes, table, one verdict line per GAN."""
    least = halving_ratio(next(r["rungs"] for r in rows if r["study"] == "asha"), args.max_steps)
    text = (f"# ASHA vs full budget on the same trials (grid25)\n\n"
            f"{args.trials} trials per GAN (registered toy defaults first, then random points of "
            f"the GAN's search space, sampler seed {SEED}; the same configurations in both studies: "
            f"checked), {args.max_steps} steps max, evaluation every {args.eval_every} steps on "
            f"2,500 points, metric `eval/fit`; ASHA grace {args.grace} / reduction factor "
            f"{REDUCTION_FACTOR} / max_t {args.max_steps} (the quickstart's rungs); 2 trials at a "
            f"time on 1 CPU each.\n"
            f"Target: ASHA's best final `eval/fit` within {TOLERANCE:.0%} of the full-budget best. "
            f"With these rungs synchronous successive halving would spend {least:.3f} of the full "
            f"steps; asynchronous ASHA promotes sooner, so it spends more.\n\n"
            f"{table(rows, args)}\n")
    for r in rows:
        if r["study"] == "asha":
            full = next(x for x in rows if x["gan"] == r["gan"] and x["study"] == "full")
            ratio = r["total_steps"] / full["total_steps"]
            ok = within(r["fit"], full["fit"])
            text += (f"\n{r['gan']}: ASHA stopped {r['stopped']} of {r['trials']} trials early and "
                     f"spent {ratio:.3f} of the steps in {r['wall_s'] / full['wall_s']:.2f} of the wall "
                     f"time; best final fit {r['fit']:.3f} vs {full['fit']:.3f}: "
                     f"{'within' if ok else 'NOT within'} {TOLERANCE:.0%}.\n")
    return text


def write_report(rows: list[dict], args, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(rows, args))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gans", nargs="+", default=list(DEFAULT_GANS))
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    parser.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS)
    parser.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY)
    parser.add_argument("--grace", type=int, default=DEFAULT_GRACE, help="ASHA's first rung (steps)")
    parser.add_argument("--out", default=None, help=f"markdown output (default {DEFAULT_OUT})")
    parser.add_argument("--smoke-test", action="store_true",
                        help="CI size: 2 trials, 60 steps, eval and grace 30, output in a temp dir")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.trials, args.max_steps, args.eval_every, args.grace = (
            SMOKE["trials"], SMOKE["max_steps"], SMOKE["eval_every"], SMOKE["grace"])
    os.environ.setdefault("RAY_DASHBOARD_ENABLED", "0")
    import ray

    rows = []
    with tempfile.TemporaryDirectory(prefix="asha-vs-full-") as tmp:
        tmp = Path(tmp)
        out = Path(args.out) if args.out else (tmp / "asha_vs_full.md" if args.smoke_test else DEFAULT_OUT)
        try:
            for gan in args.gans:
                full = run_one(gan, "none", tmp / "full", args)
                asha = run_one(gan, "asha", tmp / "asha", args)
                if full["params"] != asha["params"]:
                    raise SystemExit(f"{gan}: the two studies sampled different configurations:\n"
                                     f"  full: {sorted(full['params'])}\n  asha: {sorted(asha['params'])}")
                rows += [full, asha]
                write_report(rows, args, out)  # after each GAN: a long run can be read as it goes
        finally:
            if ray.is_initialized():
                ray.shutdown()
        print("\n" + report(rows, args), flush=True)
        print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
