"""ASHA vs full budget on the SAME trials: quality kept and steps spent.

The issue's ASHA target: "on grid25 with N trials per GAN, the study reaches within 5% of the
best final eval/modes and eval/hq of a full-budget run of the same trials while spending <= 40%
of its steps". For each GAN this runs two studies through ``study.lifecycle.run_study``, each in its
own temporary ``storage_path`` (sqlite MLflow + Optuna DB inside):

1. ``full``: ``scheduler.type = "none"`` (FIFO: every trial trains ``max_steps``);
2. ``asha``: ASHA with ``grace_period = eval_every``, ``reduction_factor = 3``,
   ``max_t = max_steps``.

Both use ``search.sampler = "random"`` with the same seed. Optuna's RandomSampler draws from one
seeded generator in ask order, and the searcher asks one trial at a time in the driver, so both
studies get the same configurations whatever the scheduler does (the paper defaults come first).
This is checked: the multiset of trial parameters must be identical, else the script fails.

Measured per study, from Tune's per-trial ``result.json`` (one line per ``tune.report``, i.e. per
evaluation) under ``<storage_path>/<study>/<gan>/``:

- total trial-steps: the sum over trials of each trial's last reported ``step``;
- wall time of ``run_study`` (Ray start-up included);
- best ``eval/modes`` and best ``eval/hq`` over the trials' LAST reported values ("final"), and
  over every evaluation of every trial ("any eval"). The two maxima are taken separately (they
  may come from different trials), as the target states them separately.

"within 5%?" is judged on the final values: ASHA best >= 0.95 x full best for modes AND hq.
Prints a markdown table and writes it (``benchmarks/results/asha_vs_full.md``; the smoke test
writes into a temporary directory instead)::

    python benchmarks/asha_vs_full.py [--smoke-test] [--gans tripletgan mlgan] [--trials 16]
        [--max-steps 1200] [--eval-every 150] [--out benchmarks/results/asha_vs_full.md]
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

from trainables.metric_names import EVAL_HQ, EVAL_MODES  # noqa: E402

DEFAULT_GANS = ("tripletgan",)  # one GAN fits the time of a by-hand run on 2 cores
DEFAULT_TRIALS = 16  # trials per GAN (N of the target)
DEFAULT_MAX_STEPS = 1200  # full budget per trial
DEFAULT_EVAL_EVERY = 150  # evaluation = report interval = ASHA grace period
REDUCTION_FACTOR = 3  # ASHA keeps the top third at each rung
TOLERANCE = 0.05  # "within 5%" of the full-budget best
STEPS_TARGET = 0.40  # ASHA may spend at most 40% of the full-budget steps
SEED = 0  # sampler seed, identical in both studies
SMOKE = {"trials": 2, "max_steps": 60, "eval_every": 30}  # --smoke-test size (CI, < 90 s)
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "asha_vs_full.md"
SKIP_KEYS = ("run", "study", "grid_point")  # trial config keys that are not searched params


def study_doc(name: str, gan: str, storage: Path, trials: int, max_steps: int, eval_every: int,
              scheduler: str) -> dict:
    """A grid25 study document of one GAN with a seeded random sampler and the given scheduler."""
    sched = {"type": scheduler}
    if scheduler == "asha":
        sched.update(grace_period=eval_every, reduction_factor=REDUCTION_FACTOR, max_t=max_steps)
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


def _best(values) -> float:
    values = [float(v) for v in values if v is not None]
    return max(values) if values else float("nan")


def summarize(trials: list[dict]) -> dict:
    """Total steps and best final / any-eval modes and hq of one study's trials."""
    done = [t for t in trials if t["reports"]]
    last = [t["reports"][-1] for t in done]
    every = [r for t in done for r in t["reports"]]
    return {"trials": len(trials), "total_steps": sum(int(r["step"]) for r in last),
            "modes": _best(r.get(EVAL_MODES) for r in last), "hq": _best(r.get(EVAL_HQ) for r in last),
            "modes_any": _best(r.get(EVAL_MODES) for r in every),
            "hq_any": _best(r.get(EVAL_HQ) for r in every),
            "stopped": sum(1 for r in last if int(r["step"]) < max(int(x["step"]) for x in last))}


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
                                  args.eval_every, scheduler))
    t0 = time.perf_counter()
    run_study(study)
    wall = time.perf_counter() - t0
    trials = read_trials(study.study_dir / SWEEP_DIR)
    return {"gan": gan, "study": label, "wall_s": wall, **summarize(trials),
            "params": Counter(param_key(t["params"]) for t in trials)}


def within(asha: float, full: float) -> bool:
    return asha >= (1 - TOLERANCE) * full


def table(rows: list[dict], args) -> str:
    """The markdown table (one full + one asha row per GAN)."""
    head = ("| GAN | study | trials | total steps | steps ratio (asha/full) | wall s | best modes "
            "(final) | best hq (final) | best modes (any eval) | best hq (any eval) | within 5%? |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    by = {(r["gan"], r["study"]): r for r in rows}
    for r in rows:
        full = by[(r["gan"], "full")]
        if r["study"] == "full":
            ratio, verdict = "1.000", "(reference)"
        else:
            ratio = f"{r['total_steps'] / full['total_steps']:.3f}"
            ok_m, ok_h = within(r["modes"], full["modes"]), within(r["hq"], full["hq"])
            verdict = ("yes" if ok_m and ok_h else "no") + \
                f" (modes {'ok' if ok_m else 'miss'}, hq {'ok' if ok_h else 'miss'})"
        lines.append(f"| {r['gan']} | {r['study']} | {r['trials']} | {r['total_steps']} | {ratio} | "
                     f"{r['wall_s']:.0f} | {r['modes']:.0f} | {r['hq']:.3f} | {r['modes_any']:.0f} | "
                     f"{r['hq_any']:.3f} | {verdict} |")
    return "\n".join(lines)


def report(rows: list[dict], args) -> str:
    """The markdown report: sizes, table, one verdict line per GAN."""
    text = (f"# ASHA vs full budget on the same trials (grid25)\n\n"
            f"{args.trials} trials per GAN (random sampler, seed {SEED}, same configurations in "
            f"both studies: checked), {args.max_steps} steps max, evaluation every "
            f"{args.eval_every} steps, ASHA grace {args.eval_every} / reduction factor "
            f"{REDUCTION_FACTOR} / max_t {args.max_steps}; 2 trials at a time on 1 CPU each.\n"
            f"Target: ASHA best final modes and hq within {TOLERANCE:.0%} of the full-budget "
            f"best, with steps ratio <= {STEPS_TARGET:.2f}.\n\n"
            f"{table(rows, args)}\n")
    for r in rows:
        if r["study"] == "asha":
            full = next(x for x in rows if x["gan"] == r["gan"] and x["study"] == "full")
            ratio = r["total_steps"] / full["total_steps"]
            ok = within(r["modes"], full["modes"]) and within(r["hq"], full["hq"]) \
                and ratio <= STEPS_TARGET
            text += (f"\n{r['gan']}: ASHA stopped {r['stopped']} of {r['trials']} trials early; "
                     f"steps ratio {ratio:.3f}; target {'met' if ok else 'NOT met'}.\n")
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
    parser.add_argument("--out", default=None, help=f"markdown output (default {DEFAULT_OUT})")
    parser.add_argument("--smoke-test", action="store_true",
                        help="CI size: 2 trials, 60 steps, eval every 30, output in a temp dir")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.trials, args.max_steps, args.eval_every = (SMOKE["trials"], SMOKE["max_steps"],
                                                        SMOKE["eval_every"])
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
