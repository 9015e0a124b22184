"""Study throughput on one machine: 1 vs 2 concurrent trials, and the projection to N devices.

Runs the same small study twice through the study layer (``study.study_file.parse_study`` +
``study.lifecycle.run_study``): ``--trials`` trials of one GAN on ``--data`` (random sampler, seed 0:
the same configurations both times), ``--max-steps`` steps each, FIFO scheduler (every trial
runs to the end), ``resources.cpu = 1``; once with ``max_concurrent = 1``, once with
``max_concurrent = 2``. Run it on 2 free cores (no ``taskset`` to one core).

Measured from each study (Tune's per-trial ``result.json``, one line per report):

- throughput X = total trial-steps / wall time of ``run_study`` (MLflow parent run and
  leaderboard included; Ray is started once before both studies and timed on its own);
- the per-trial training rate: steps between the first (step 0) and last report / the trial's
  own time between them (evaluations, logging and checkpoints included);
- T = a trial's own running time (``time_total_s`` at its last report), r = S / T, s = per-trial overhead
  outside it: (wall - sum of T) / trials in the 1-at-a-time study (actor start, imports, MLflow
  child run and study bookkeeping amortised over the trials);
- concurrency efficiency e = X(2) / (2 X(1)).

Projection (written into the table with these inputs): with S steps per trial, k trials per
device and N devices, ``X(N) = N * k * e_k * S / (S / r + s)``.

Writes ``benchmarks/results/scaling.md`` and ``.json``::

    python benchmarks/scaling.py --trials 8 --max-steps 5000       # full size
    python benchmarks/scaling.py --trials 4 --max-steps 1000       # run here
    python benchmarks/scaling.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_GAN = "tripletgan"  # GAN of the study
DEFAULT_DATA = "ring8"  # mixture
DEFAULT_TRIALS = 8  # trials per study (same number at both concurrencies)
DEFAULT_MAX_STEPS = 5000  # steps per trial (FIFO: every trial runs them all)
DEFAULT_EVAL_EVERY = 250  # evaluation = report interval
CONCURRENCY = (1, 2)  # trials at once (2 cores)
SMOKE = {"trials": 2, "max_steps": 20, "eval_every": 20}  # --smoke-test size (CI, < 60 s)


def study_doc(name: str, args, storage: Path, concurrent: int) -> dict:
    return {"name": name, "gans": [args.gan], "storage_path": str(storage),
            "max_concurrent": concurrent, "max_failures": 0,
            "run": {"steps": args.max_steps, "data": {"name": args.data}, "eval": {"every": args.eval_every}},
            "search": {"samples_per_gan": args.trials, "sampler": "random", "seed": 0},
            "scheduler": {"type": "none"}, "resources": {"cpu": 1, "gpu": 0},
            "mlflow": {"register_model": False}}


def read_reports(exp_dir: Path) -> list[list[dict]]:
    """Per trial: its reports (``result.json`` lines holding a ``step``), by step."""
    trials = []
    for result_file in sorted(exp_dir.glob("*/result.json")):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        rows = sorted((r for r in rows if "step" in r), key=lambda r: r["step"])
        if rows:
            trials.append(rows)
    return trials


def run_one(args, storage: Path, concurrent: int) -> dict:
    from study.study_file import parse_study
    from study.lifecycle import run_study
    from study.sweep import SWEEP_DIR

    study = parse_study(study_doc(f"scaling-c{concurrent}", args, storage, concurrent))
    t0 = time.perf_counter()
    run_study(study)
    wall = time.perf_counter() - t0
    trials = read_reports(study.study_dir / SWEEP_DIR)
    steps = sum(int(t[-1]["step"]) for t in trials)
    own = [float(t[-1]["time_total_s"]) for t in trials]
    rates = [(t[-1]["step"] - t[0]["step"]) / (t[-1]["time_total_s"] - t[0]["time_total_s"])
             for t in trials if t[-1]["time_total_s"] > t[0]["time_total_s"]]
    return {"concurrent": concurrent, "trials": len(trials), "total_steps": steps, "wall_s": wall,
            "throughput": steps / wall, "trial_rate": sum(rates) / len(rates),
            "trial_time": sum(own) / len(own), "sum_trial_time": sum(own)}


def render(args, one: dict, two: dict) -> str:
    e = two["throughput"] / (2 * one["throughput"])
    s = (one["wall_s"] - one["sum_trial_time"]) / one["trials"]
    S = args.max_steps
    r = S / one["trial_time"]  # effective per-trial rate: steps over the trial's own time
    per_trial = S / (S / r + s)
    predicted_2 = 2 * per_trial
    rows = "\n".join(
        f"| {x['concurrent']} | {x['trials']} | {x['total_steps']} | {x['wall_s']:.1f} | "
        f"**{x['throughput']:.1f}** | {x['trial_rate']:.1f} | {x['trial_time']:.1f} |" for x in (one, two))
    return f"""# Study throughput on one machine ({os.cpu_count()} cores): 1 vs 2 concurrent trials

Study: {args.gan} on {args.data}, {args.trials} trials (random sampler, seed 0: the same configurations
in both), {args.max_steps} steps each, evaluation + report every {args.eval_every}, FIFO scheduler,
`resources.cpu = 1` (1 torch thread per trial), through `study.lifecycle.run_study` (MLflow on sqlite).
Ray started once before both studies ({args.ray_init_s:.1f} s, not in the wall times). Machine shared
with other work during the run (load average before: {args.load_before}).

| concurrent trials | trials | trial-steps | wall s (run_study) | throughput X (trial-steps/s) | per-trial rate between reports (steps/s) | trial's own time T (s) |
|---|---|---|---|---|---|---|
{rows}

Speed-up X(2)/X(1) = **{two['throughput'] / one['throughput']:.2f}x**; concurrency efficiency
e_2 = X(2) / (2 X(1)) = **{e:.2f}**.

## Projection to N devices

    X(N) = N * k * e_k * S / (S / r + s)

- S = steps per trial = {S}
- r = per-trial rate on one device = S / T (the trial's own time: net and evaluator construction,
  evaluations, logging, checkpoints included) = {S} / {one['trial_time']:.1f} = {r:.1f} steps/s (here: 1 CPU core)
- s = per-trial overhead outside the trial's own time (actor start, imports, MLflow child run,
  study bookkeeping amortised) = (wall - sum T) / trials of the 1-at-a-time study
  = ({one['wall_s']:.1f} - {one['sum_trial_time']:.1f}) / {one['trials']} = **{s:.2f} s**
- k = trials per device, e_k = concurrency efficiency at k per device (measured here for 2
  single-core trials on 2 cores: e_2 = {e:.2f}; for GPUs measure r and e_k on the GPU).

By construction X(1) = S / (S / r + s) = {per_trial:.1f} trial-steps/s. With e = 1 the formula
gives X(2) = {predicted_2:.1f} on the 2 cores; measured {two['throughput']:.1f}, i.e. e_2 = {e:.2f}
(the two trials share the 2 cores with the driver, Ray's own processes and the other work on
this machine). The projection assumes the driver (one Tune controller, sqlite MLflow) keeps up
with N * k trials; that was not measured beyond 2 trials here.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", default=DEFAULT_GAN)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    parser.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS)
    parser.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY)
    parser.add_argument("--out", default=str(RESULTS / "scaling"), help="output prefix (.md/.json)")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: 2 trials x 40 steps, temp output")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.trials, args.max_steps, args.eval_every = SMOKE["trials"], SMOKE["max_steps"], SMOKE["eval_every"]
        args.out = str(Path(tempfile.mkdtemp()) / "scaling")
    os.environ.setdefault("RAY_DASHBOARD_ENABLED", "0")
    args.load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    import ray

    from study.cluster import init_ray

    t0 = time.perf_counter()
    init_ray("local")  # once for both studies (run_study then leaves it running)
    args.ray_init_s = time.perf_counter() - t0
    results = []
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        try:
            for concurrent in CONCURRENCY:
                results.append(run_one(args, Path(tmp), concurrent))
                print(json.dumps(results[-1]), flush=True)
        finally:
            if ray.is_initialized():
                ray.shutdown()
    text = render(args, *results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1) + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
