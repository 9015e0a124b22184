"""Overhead of the Ray Tune wrapper: steps/s of the bare loop vs the same run inside a trial.

Measured side by side in one process, same torch thread count, same config:

1. ``bare``: ``GanRun.train(steps)`` (no evaluation, no logging);
2. ``fit``: ``trainables.train.fit`` without Ray (the evaluations the trial also does);
3. ``tune``: one trial of ``study.trainable.train_gan`` through a Tuner with the
   study plumbing (MLflow child run on sqlite, per-step losses in batches, an evaluation + sample
   image + checkpoint + ``tune.report`` every ``eval_every`` steps = the default reporting
   interval, ``EvalConfig.every``). Its rate is measured between its first and last report from
   the trial's own clock (``time_total_s``), so process start-up is excluded;
4. ``bare`` again (the machine is shared: the mean of the two bare runs is the reference).

Prints the three rates and the ratio tune / bare (target >= 0.9)::

    python benchmarks/wrapper_overhead.py [--smoke-test] [--gan tripletgan] [--steps 3000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from trainables.config import EvalConfig, resolve_config
from trainables.loop import GanRun
from trainables.train import fit

DEFAULT_STEPS = 3000  # training iterations per measurement
DEFAULT_EVAL_EVERY = EvalConfig.every  # the default reporting interval (one report per evaluation)


def config(gan: str, dataset: str, steps: int, eval_every: int) -> dict:
    return {"gan": gan, "data": {"name": dataset}, "steps": steps, "device": "cpu",
            "eval": {"every": eval_every}}


def bare_rate(cfg: dict, threads: int) -> float:
    """Steps/s of ``GanRun.train`` (after one warm-up step)."""
    torch.set_num_threads(threads)
    run = GanRun(cfg)
    run.train(1)
    t0 = time.perf_counter()
    run.train(cfg["steps"] - 1)
    return (cfg["steps"] - 1) / (time.perf_counter() - t0)


def fit_rate(cfg: dict, threads: int) -> float:
    """Steps/s of ``fit`` without Ray, between the first and the last evaluation."""
    torch.set_num_threads(threads)
    marks = []
    fit(GanRun(cfg), on_eval=lambda run, metrics, is_best: marks.append((run.step, time.perf_counter())))
    (s0, t0), (s1, t1) = marks[0], marks[-1]
    return (s1 - s0) / (t1 - t0)


def tune_rate(cfg: dict, threads: int, workdir: Path) -> float:
    """Steps/s of one ``train_gan`` trial (study plumbing included), from its own reports."""
    import ray
    from ray import tune

    from study import tracking
    from study.cluster import init_ray
    from trainables.evaluation import primary_metric
    from study.trainable import train_gan

    uri = f"sqlite:///{workdir.resolve()}/mlflow.db"
    exp = tracking.ensure_experiment(uri, "wrapper-overhead", workdir / "mlruns")
    parent = tracking.client_for(uri).create_run(exp, run_name="benchmark").info.run_id
    metric, mode = primary_metric(resolve_config(cfg))
    space = {"run": cfg, "study": {"tracking_uri": uri, "experiment_id": exp,
                                   "parent_run_id": parent, "study_name": "wrapper-overhead",
                                   "gan": cfg["gan"], "search": "grid"}}
    started = init_ray("local")
    try:
        tuner = tune.Tuner(tune.with_resources(train_gan, {"cpu": threads}), param_space=space,
                           tune_config=tune.TuneConfig(metric=metric, mode=mode, num_samples=1),
                           run_config=tune.RunConfig(name="trial", storage_path=str(workdir.resolve()),
                                                     verbose=0))
        result = tuner.fit()[0]
    finally:
        if started:
            ray.shutdown()
    if result.error:
        raise RuntimeError(f"trial failed: {result.error}")
    df = result.metrics_dataframe.sort_values("step")
    steps = df["step"].iloc[-1] - df["step"].iloc[0]
    return float(steps / (df["time_total_s"].iloc[-1] - df["time_total_s"].iloc[0]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", default="tripletgan")
    parser.add_argument("--dataset", default="grid25")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY,
                        help="evaluation = reporting interval (default: EvalConfig.every)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads = trial CPUs")
    parser.add_argument("--smoke-test", action="store_true", help="tiny run (CI): 60 steps, eval every 20")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.steps, args.eval_every = 60, 20
    cfg = config(args.gan, args.dataset, args.steps, args.eval_every)
    resolve_config(cfg)
    with tempfile.TemporaryDirectory(prefix="wrapper-overhead-") as tmp:
        bare1 = bare_rate(cfg, args.threads)
        fitr = fit_rate(cfg, args.threads)
        tuner = tune_rate(cfg, args.threads, Path(tmp))
        bare2 = bare_rate(cfg, args.threads)
    bare = (bare1 + bare2) / 2
    out = {"gan": args.gan, "dataset": args.dataset, "steps": args.steps,
           "eval_every": args.eval_every, "threads": args.threads,
           "bare_steps_per_s": [round(bare1, 2), round(bare2, 2)], "fit_steps_per_s": round(fitr, 2),
           "tune_steps_per_s": round(tuner, 2), "ratio_tune_vs_bare": round(tuner / bare, 3),
           "ratio_tune_vs_fit": round(tuner / fitr, 3)}
    print(f"{args.gan} on {args.dataset}, {args.steps} steps, report every {args.eval_every}, "
          f"{args.threads} thread(s)")
    print(f"  bare GanRun.train : {bare:8.1f} steps/s  (runs: {bare1:.1f}, {bare2:.1f})")
    print(f"  fit (no Ray)      : {fitr:8.1f} steps/s")
    print(f"  Tune trial        : {tuner:8.1f} steps/s")
    print(f"  ratio tune / bare : {tuner / bare:.3f}  (target >= 0.9)")
    print(f"  ratio tune / fit  : {tuner / fitr:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
