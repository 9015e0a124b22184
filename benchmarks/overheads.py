"""Overheads of the platform around the training loop, one table.

(a) steps/s of the bare loop vs the same run inside a Tune trial (same torch thread count):
    ``wrapper_overhead.py``'s measurements (bare ``GanRun.train`` twice, ``fit`` without Ray,
    one ``train_gan`` trial through a Tuner with the study plumbing);
(b) one MNIST evaluation (domain FID + class balance) with and without the real-statistics
    cache: ``eval_cache.py``'s measurement (first evaluation on an empty cache directory = miss,
    then new evaluators reading the statistics from disk = hits);
(c) MLflow logging cost per evaluation, on a sqlite tracking URI, through the trial's own
    ``TrialTracker``: the evaluation's metrics (one ``log_batch``), its sample image (the
    2,500-point scatter PNG, ``log_artifact``) and, when it is the best so far, ``best.pt``;
    ``--mlflow-reps`` repetitions, median and mean;
(d) trial start-up: ``--startup-trials`` trivial trials (1 step, one evaluation) of
    ``train_gan`` run one after another in one Tuner; per trial, the driver-side time from the
    trial's start (``Callback.on_trial_start``) to its first report, and the time from
    ``Tuner.fit`` to the first trial's first report; Ray start-up is timed on its own.

Writes ``benchmarks/results/overheads.md`` and ``.json``::

    python benchmarks/overheads.py --steps 3000                    # full size
    python benchmarks/overheads.py --smoke-test                    # CI size
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]  # the project and the sibling benchmark scripts

import torch  # noqa: E402

import eval_cache  # noqa: E402
import wrapper_overhead  # noqa: E402
from trainables.config import REPO_ROOT, resolve_config  # noqa: E402

RESULTS = HERE / "results"
DEFAULT_GAN = "tripletgan"  # GAN of (a), (c) and (d)
DEFAULT_DATA = "grid25"  # mixture of (a), (c) and (d)
DEFAULT_STEPS = 3000  # (a): training iterations per measurement
DEFAULT_EVAL_EVERY = 500  # (a): evaluation / report interval (EvalConfig.every)
DEFAULT_CACHE_SAMPLES = 10000  # (b): real and fake images per MNIST evaluation
DEFAULT_CACHE_REPEATS = 3  # (b): timed cache hits
DEFAULT_MLFLOW_REPS = 50  # (c): timed evaluations' worth of logging
DEFAULT_STARTUP_TRIALS = 4  # (d): trivial trials, one at a time
SMOKE = {"steps": 40, "eval_every": 20, "cache_samples": 500, "cache_repeats": 1,
         "mlflow_reps": 3, "startup_trials": 1}  # --smoke-test size (CI, < 60 s)


# -- (a) ----------------------------------------------------------------------------------------
def loop_vs_trial(args, workdir: Path) -> dict:
    cfg = wrapper_overhead.config(args.gan, args.data, args.steps, args.eval_every)
    resolve_config(cfg)
    bare1 = wrapper_overhead.bare_rate(cfg, args.threads)
    fitr = wrapper_overhead.fit_rate(cfg, args.threads)
    tune = wrapper_overhead.tune_rate(cfg, args.threads, workdir)
    bare2 = wrapper_overhead.bare_rate(cfg, args.threads)
    bare = (bare1 + bare2) / 2
    return {"bare": [bare1, bare2], "bare_mean": bare, "fit": fitr, "tune": tune,
            "tune_vs_bare": tune / bare, "fit_vs_bare": fitr / bare}


# -- (b) ----------------------------------------------------------------------------------------
def eval_cost(args) -> dict:
    from trainables.data.images import to_uint8
    from trainables.evaluation import image_backend
    from trainables.loop import GanRun

    torch.set_num_threads(args.threads)
    shared = REPO_ROOT / ".cache" / "metrics"  # holds the classifier (trained once per checkout)
    run = GanRun({"gan": "nsgan", "data": {"name": "mnist"}, "device": "cpu",
                  "eval": {"num_samples": args.cache_samples, "kid_subsets": 0, "cache_dir": str(shared)}})
    weights = image_backend(run).weights_path  # trains/loads the classifier outside the timings
    with tempfile.TemporaryDirectory() as stats_dir:
        config = run.cfg.to_dict()
        config["eval"].update(cache_dir=stats_dir, weights_path=weights)
        run = GanRun(config)
        fake = to_uint8(run.generate(run.sample_z(args.cache_samples)))
        miss, hit = eval_cache.timed_evaluation(run, fake)
        assert not hit, "the first evaluation on an empty cache must miss"
        hits = []
        for _ in range(args.cache_repeats):
            seconds, hit = eval_cache.timed_evaluation(run, fake)
            assert hit, "later evaluations must hit"
            hits.append(seconds)
    toy = _toy_eval_seconds(args)
    return {"miss": miss, "hits": hits, "hit_mean": statistics.mean(hits),
            "miss_vs_hit": miss / statistics.mean(hits), "toy_eval": toy}


def _toy_eval_seconds(args) -> float:
    """Seconds of one toy evaluation (2,500 points, no cache involved), median of 5."""
    from trainables.evaluation import build_evaluator
    from trainables.loop import GanRun

    run = GanRun({"gan": args.gan, "data": {"name": args.data}, "device": "cpu"})
    evaluator = build_evaluator(run)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        evaluator.evaluate(run)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- (c) ----------------------------------------------------------------------------------------
def mlflow_cost(args, workdir: Path) -> dict:
    """Per-evaluation logging through ``TrialTracker`` on a fresh sqlite database."""
    from study import tracking
    from trainables.checkpoint import save_checkpoint
    from trainables.evaluation import build_evaluator
    from trainables.loop import GanRun
    from study.tracking import BEST_NAME, CHECKPOINTS_DIR, SAMPLES_DIR, TrialTracker
    from study.trial_spec import TrialStudy

    torch.set_num_threads(args.threads)
    uri = f"sqlite:///{workdir.resolve()}/mlflow.db"
    exp = tracking.ensure_experiment(uri, "overheads", workdir / "mlruns")
    parent = tracking.client_for(uri).create_run(exp, run_name="benchmark").info.run_id
    study = TrialStudy(tracking_uri=uri, experiment_id=exp, parent_run_id=parent, study_name="overheads",
                       gan=args.gan, search="grid")
    run = GanRun({"gan": args.gan, "data": {"name": args.data}, "device": "cpu"})
    t0 = time.perf_counter()
    tracker = TrialTracker(study, "trial_0", "trial_0", run.cfg, {})
    create = time.perf_counter() - t0
    evaluator = build_evaluator(run)
    metrics = evaluator.evaluate(run)
    evaluator.save_samples(run, workdir / "warmup.png")  # imports matplotlib outside the timing
    t0 = time.perf_counter()
    sample = evaluator.save_samples(run, workdir / "sample.png")
    plot = time.perf_counter() - t0
    best = save_checkpoint(workdir / BEST_NAME, run.checkpoint_payload(best=metrics))
    parts = {"metrics": [], "sample": [], "best": []}
    for i in range(args.mlflow_reps):
        step = (i + 1) * 100
        t0 = time.perf_counter()
        tracker.log_metrics(metrics, step)
        tracker.flush(step)
        t1 = time.perf_counter()
        tracker.log_artifact(sample, SAMPLES_DIR)
        t2 = time.perf_counter()
        tracker.log_artifact(best, CHECKPOINTS_DIR)
        t3 = time.perf_counter()
        parts["metrics"].append(t1 - t0)
        parts["sample"].append(t2 - t1)
        parts["best"].append(t3 - t2)
    out = {k: {"median": statistics.median(v), "mean": statistics.mean(v)} for k, v in parts.items()}
    total = [a + b for a, b in zip(parts["metrics"], parts["sample"])]
    out["per_eval"] = {"median": statistics.median(total), "mean": statistics.mean(total)}
    out.update(create_run=create, sample_plot=plot, n_metrics=len(metrics),
               sample_bytes=sample.stat().st_size, best_bytes=best.stat().st_size)
    return out


# -- (d) ----------------------------------------------------------------------------------------
def trial_startup(args, workdir: Path) -> dict:
    import ray
    from ray import tune

    from study import tracking
    from study.cluster import init_ray
    from trainables.evaluation import primary_metric
    from study.trainable import train_gan

    class Clock(tune.Callback):
        """Driver-side times of each trial's start and first report."""

        def __init__(self):
            self.start, self.first = {}, {}

        def on_trial_start(self, iteration, trials, trial, **info):
            self.start.setdefault(trial.trial_id, time.perf_counter())

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.first.setdefault(trial.trial_id, time.perf_counter())

    cfg = {"gan": args.gan, "data": {"name": args.data}, "steps": 1, "device": "cpu",
           "eval": {"every": 1}, "seed": tune.grid_search(list(range(args.startup_trials)))}
    uri = f"sqlite:///{workdir.resolve()}/mlflow.db"
    exp = tracking.ensure_experiment(uri, "startup", workdir / "mlruns")
    parent = tracking.client_for(uri).create_run(exp, run_name="startup").info.run_id
    metric, mode = primary_metric(resolve_config({**cfg, "seed": 0}))
    space = {"run": cfg, "study": {"tracking_uri": uri, "experiment_id": exp, "parent_run_id": parent,
                                   "study_name": "startup", "gan": args.gan, "search": "grid"}}
    clock = Clock()
    t_ray = time.perf_counter()
    started = init_ray("local")
    ray_init = time.perf_counter() - t_ray
    try:
        tuner = tune.Tuner(tune.with_resources(train_gan, {"cpu": args.threads}), param_space=space,
                           tune_config=tune.TuneConfig(metric=metric, mode=mode, max_concurrent_trials=1),
                           run_config=tune.RunConfig(name="startup", storage_path=str(workdir.resolve()),
                                                     callbacks=[clock], verbose=0))
        t_fit = time.perf_counter()
        results = tuner.fit()
        fit_total = time.perf_counter() - t_fit
    finally:
        if started:
            ray.shutdown()
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"trial failed: {errors[0]}")
    per_trial = [clock.first[t] - clock.start[t] for t in clock.start if t in clock.first]
    return {"ray_init": ray_init, "fit_to_first_report": min(clock.first.values()) - t_fit,
            "per_trial": per_trial, "median": statistics.median(per_trial),
            "fit_total": fit_total, "trials": len(per_trial)}


def run_parts(args, results: dict, tmp: Path) -> None:
    """Run (a)-(d) in order, each in its own work directory under ``tmp``."""
    for key, label, fn in (("a", "loop vs trial", lambda: loop_vs_trial(args, tmp / "a")),
                           ("b", "evaluation cache", lambda: eval_cost(args)),
                           ("c", "MLflow logging", lambda: mlflow_cost(args, tmp / "c")),
                           ("d", "trial start-up", lambda: trial_startup(args, tmp / "d"))):
        (tmp / key).mkdir()
        t0 = time.time()
        results[key] = fn()
        print(f"({key}) {label}: done in {time.time() - t0:.0f} s", flush=True)


# -- report --------------------------------------------------------------------------------------
def render(args, a: dict, b: dict, c: dict, d: dict) -> str:
    ms = lambda s: f"{1000 * s:.1f}"  # noqa: E731
    return f"""# Overheads of the platform (CPU, {args.threads} torch thread(s))

## (a) Training loop vs Tune trial — {args.gan} on {args.data}, {args.steps} steps, evaluation + report every {args.eval_every}

| where | steps/s |
|---|---|
| bare `GanRun.train` (mean of 2 runs: {a['bare'][0]:.1f}, {a['bare'][1]:.1f}) | {a['bare_mean']:.1f} |
| `fit` without Ray (evaluations included) | {a['fit']:.1f} |
| one Tune trial of `train_gan` (MLflow, checkpoints, reports) | {a['tune']:.1f} |

Ratio Tune trial / bare loop: **{a['tune_vs_bare']:.3f}** (fit / bare {a['fit_vs_bare']:.3f}).

## (b) One MNIST evaluation (domain FID + class balance, {args.cache_samples} real / {args.cache_samples} fake, no KID)

| real statistics | seconds |
|---|---|
| computed (cache miss) | {b['miss']:.2f} |
| read from the cache (mean of {len(b['hits'])}) | {b['hit_mean']:.2f} |

Ratio miss / hit: **{b['miss_vs_hit']:.2f}x**. A toy evaluation (2,500 points, {args.data}) takes {ms(b['toy_eval'])} ms (no cache involved).

## (c) MLflow logging per evaluation (sqlite, `TrialTracker`, {args.mlflow_reps} repetitions)

| what | median ms | mean ms |
|---|---|---|
| {c['n_metrics']} evaluation metrics (`log_batch`) | {ms(c['metrics']['median'])} | {ms(c['metrics']['mean'])} |
| sample scatter PNG ({c['sample_bytes'] / 1024:.0f} KiB, `log_artifact`) | {ms(c['sample']['median'])} | {ms(c['sample']['mean'])} |
| **per evaluation (metrics + sample)** | **{ms(c['per_eval']['median'])}** | {ms(c['per_eval']['mean'])} |
| `best.pt` ({c['best_bytes'] / 1024:.0f} KiB), only when the evaluation is the best so far | {ms(c['best']['median'])} | {ms(c['best']['mean'])} |

Once per trial: creating the child run with its params {ms(c['create_run'])} ms. Drawing the scatter PNG (not MLflow) {ms(c['sample_plot'])} ms.
At {args.eval_every} steps between evaluations and {a['bare_mean']:.0f} steps/s, one evaluation's logging is
{100 * c['per_eval']['median'] * a['bare_mean'] / args.eval_every:.2f}% of the training time between two evaluations.

## (d) Trial start-up ({d['trials']} trivial trials of `train_gan`, 1 step + 1 evaluation, one at a time)

| what | seconds |
|---|---|
| `ray.init` (local, dashboard off) | {d['ray_init']:.2f} |
| `Tuner.fit` start -> first report of the first trial | {d['fit_to_first_report']:.2f} |
| trial start -> its first report, median (all: {', '.join(f'{s:.2f}' for s in d['per_trial'])}) | **{d['median']:.2f}** |
| `Tuner.fit` total for the {d['trials']} trials | {d['fit_total']:.2f} |
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", default=DEFAULT_GAN)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY)
    parser.add_argument("--threads", type=int, default=1, help="torch threads = trial CPUs")
    parser.add_argument("--cache-samples", type=int, default=DEFAULT_CACHE_SAMPLES)
    parser.add_argument("--cache-repeats", type=int, default=DEFAULT_CACHE_REPEATS)
    parser.add_argument("--mlflow-reps", type=int, default=DEFAULT_MLFLOW_REPS)
    parser.add_argument("--startup-trials", type=int, default=DEFAULT_STARTUP_TRIALS)
    parser.add_argument("--out", default=str(RESULTS / "overheads"), help="output prefix (.md/.json)")
    parser.add_argument("--smoke-test", action="store_true", help="CI size, temp output")
    args = parser.parse_args(argv)
    if args.smoke_test:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        args.out = str(Path(tempfile.mkdtemp()) / "overheads")
    os.environ.setdefault("RAY_DASHBOARD_ENABLED", "0")
    torch.set_num_threads(args.threads)
    results = {}
    with tempfile.TemporaryDirectory(prefix="overheads-") as tmp:
        run_parts(args, results, Path(tmp))
    text = render(args, results["a"], results["b"], results["c"], results["d"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), **results}, indent=1) + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
