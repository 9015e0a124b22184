"""Mode coverage on ring8 / grid25: paper defaults vs the best configuration a study found.

Two settings per (GAN, mixture), each trained for ``--steps`` iterations with ``--seeds`` seeds
on CPU (1 thread) and measured once at the end on 2,500 points (PacGAN's protocol,
``../shared/spec/benchmarks.md``): ``modes``, ``modes_20``, ``hq``, ``kl``.

1. ``defaults``: the registry's paper defaults (every GAN of ``--gans``);
2. ``best``: for each GAN of ``--best-gans`` (default: the five metric-learning GANs) a study is
   run first through the study layer (``study.study_file.parse_study`` +
   ``study.lifecycle.run_study``: Optuna TPE with the paper defaults as first point, ASHA,
   ``--study-trials`` trials of at most ``--study-steps`` steps, optimising ``--study-metric``,
   run seed 0), then its best trial's searched parameters are retrained with every seed.

Results accumulate in ``benchmarks/results/mode_coverage.json`` (a (setting, GAN, mixture, seed)
already there with the same step count is skipped, so the phases can be run one at a time and an
interrupted run continued); ``mode_coverage.md`` is rewritten after each run, with mean +- std
and the published rows of PacGAN / VEEGAN / Unrolled GAN / GN-GAN beside them. Seed 0 of each
(setting, GAN, mixture) leaves a 2,500-point scatter plot in ``results/mode_coverage_scatter/``.

    python benchmarks/mode_coverage.py --steps 5000 --seeds 0 1 2 --study-trials 16   # paper-like
    python benchmarks/mode_coverage.py --steps 1000 --phase defaults                  # run here
    python benchmarks/mode_coverage.py --steps 1000 --phase best --study-trials 6
    python benchmarks/mode_coverage.py --smoke-test                                   # CI size
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import torch  # noqa: E402

from trainables.evaluation import build_evaluator  # noqa: E402
from trainables.loop import GanRun  # noqa: E402
from trainables.registry import GANS, metric_learning_gans  # noqa: E402
from trainables import metric_names as M  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
KEYS = (M.EVAL_FIT, M.EVAL_MODES, M.EVAL_MODES_20, M.EVAL_HQ, M.EVAL_KL)  # measures of the table
DEFAULT_STEPS = 5000  # training iterations per run (toy_modes' budget)
DEFAULT_SEEDS = (0, 1, 2)  # seeds per (setting, GAN, mixture)
DEFAULT_STUDY_TRIALS = 8  # trials of each study of the `best` setting
DEFAULT_STUDY_EVAL = 250  # evaluation interval = ASHA grace period of those studies
DEFAULT_STUDY_METRIC = M.EVAL_FIT  # the toy default: rewards coverage AND quality in balance
REDUCTION_FACTOR = 3  # ASHA keeps the top third at each rung
STUDY_CONCURRENT = 2  # trials at once in a study (the platform's default)
SMOKE = {"steps": 20, "seeds": [0], "gans": ["tripletgan", "nsgan"], "best_gans": ["tripletgan"],
         "data": ["ring8"], "study_trials": 2, "study_steps": 20, "study_eval": 10}  # CI size

# Published rows (benchmarks.md): method -> mixture -> (modes, % HQ, KL or None).
PUBLISHED = {
    "GAN (PacGAN's run)": {"ring8": (6.3, 98.2, None), "grid25": (17.3, 94.8, 0.70)},
    "Unrolled GAN (VEEGAN table)": {"ring8": (7.6, 35.6, None), "grid25": (23.6, 16.0, None)},
    "VEEGAN": {"ring8": (8.0, 52.9, None), "grid25": (24.6, 40.0, None)},
    "PacGAN4": {"ring8": (7.8, 95.9, None), "grid25": (24.8, 93.6, 0.04)},
    "GN-GAN (own protocol)": {"grid25": (24.39, 73.0, None)},
}


# -- runs ----------------------------------------------------------------------------------------
def train_and_measure(config: dict, plot: Path | None) -> dict:
    """Train ``config`` on CPU, measure the four measures on 2,500 points, optionally plot."""
    run = GanRun({**config, "device": "cpu"})
    evaluator = build_evaluator(run)
    t0 = time.time()
    run.train(run.cfg.steps)
    seconds = time.time() - t0
    metrics = evaluator.evaluate(run)
    if plot is not None:
        evaluator.save_samples(run, plot)
    return {"seconds": round(seconds, 1), "it_per_s": round(run.cfg.steps / seconds, 1),
            **{k: float(metrics[k]) for k in KEYS}}


def _train_job(job) -> dict:
    torch.set_num_threads(1)
    return train_and_measure(*job)


def best_config(gan: str, data: str, args, storage: Path) -> dict:
    """Run a small study of ``gan`` on ``data``; return its best trial's searched point, value
    and step (``study.report.leaderboard`` row)."""
    import search_spaces  # noqa: F401  (imported here: keeps --phase defaults Ray-free)
    from study.study_file import parse_study
    from study.lifecycle import run_study

    doc = {"name": f"mode-coverage-{gan}-{data}", "gans": [gan], "storage_path": str(storage),
           "max_concurrent": STUDY_CONCURRENT, "max_failures": 1,
           "run": {"steps": args.study_steps, "data": {"name": data}, "eval": {"every": args.study_eval}},
           "search": {"samples_per_gan": args.study_trials, "sampler": "tpe", "seed": 0,
                      "metric": args.study_metric},
           "scheduler": {"type": "asha", "grace_period": args.study_eval,
                         "reduction_factor": REDUCTION_FACTOR},
           "resources": {"cpu": 1, "gpu": 0}, "mlflow": {"register_model": False}}
    study = parse_study(doc)
    t0 = time.time()
    rows = run_study(study)
    row = next(r for r in rows if r["gan"] == gan)
    return {"point": row["config"], "value": row["value"], "step": row["step"],
            "metric": row["metric"], "trials": row.get("trials"), "study_s": round(time.time() - t0),
            "base": study.base_run(gan)}


def run_config(gan: str, data: str, steps: int, seed: int, best: dict | None) -> dict:
    """The nested run config of one run: paper defaults, or the study's best point over them."""
    if best is None:
        return {"gan": gan, "data": {"name": data}, "steps": steps, "seed": seed}
    import search_spaces

    config = search_spaces.point_config(best["base"], best["point"])
    return {**config, "steps": steps, "seed": seed}


# -- table ---------------------------------------------------------------------------------------
def _fmt(values, scale: float = 1.0, digits: int = 1) -> str:
    values = [v * scale for v in values]
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(rows: list[dict], studies: dict, header: str) -> str:
    lines = [header, ""]
    for data in ("ring8", "grid25"):
        sub = [r for r in rows if r["data"] == data]
        if not sub:
            continue
        n = 25 if data == "grid25" else 8
        lines += [f"## {data} ({n} modes)", "",
                  "| GAN | setting | steps | seeds | fit | modes | modes_20 | % HQ | KL | it/s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        groups: dict = {}
        for r in sub:
            groups.setdefault((r["gan"], r["setting"], r["steps"]), []).append(r)
        order = {g: i for i, g in enumerate(GANS)}
        for (gan, setting, steps), g in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99),
                                                                              kv[0][1] != "defaults", kv[0][2])):
            lines.append(
                f"| {gan} | {setting} | {steps} | {len(g)} | {_fmt([r.get(M.EVAL_FIT, float('nan')) for r in g], digits=3)} | "
                f"{_fmt([r[M.EVAL_MODES] for r in g])} | "
                f"{_fmt([r[M.EVAL_MODES_20] for r in g])} | {_fmt([r[M.EVAL_HQ] for r in g], 100)} | "
                f"{_fmt([r[M.EVAL_KL] for r in g], digits=2)} | {_fmt([r['it_per_s'] for r in g], digits=0)} |")
        if not any(r["setting"] == "best" for r in sub):
            lines.append("| *(setting `best` not run on this mixture)* | | | | | | | | | |")
        for method, by_data in PUBLISHED.items():
            if data in by_data:
                modes, hq, kl = by_data[data]
                lines.append(f"| *{method}* | published | - | - | - | {modes:g} | - | {hq:g} | "
                             f"{'-' if kl is None else f'{kl:g}'} | - |")
        lines.append("")
    if studies:
        lines += ["## Best configurations found by the studies", "",
                  "| GAN | data | best value (metric, step) | study wall s | searched parameters |",
                  "|---|---|---|---|---|"]
        for key in sorted(studies):
            s = studies[key]
            gan, data = key.split("/")
            params = ", ".join(f"{k}={_short(v)}" for k, v in sorted(s["point"].items()))
            lines.append(f"| {gan} | {data} | {s['value']:g} ({s['metric']}, step {s['step']}) | "
                         f"{s['study_s']} | {params} |")
        lines.append("")
    lines += ["A perfect sampler scores ~98.9% HQ (the 3-std disc holds 1 - e^-4.5 of a 2D Gaussian). "
              "The published KL column is PacGAN's reverse KL on grid25; ours is KL(mode histogram "
              "of the HQ points || uniform)."]
    return "\n".join(lines) + "\n"


def header_text(args) -> str:
    return (f"# Mode coverage: registered defaults vs a study's best configuration\n\n"
            f"Each run: the iterations of its `steps` column, CPU 1 thread, "
            f"measured once at the end on 2,500 points; mean ± std over the `seeds` column's seeds (it/s "
            f"is wall-clock and depends on what else ran on the machine). `defaults` = the registered toy setting: PacGAN's 2D nets "
            f"(G 4 x FC400 ReLU+BN, z in R^2; D 3 x FC200 maxout-5), batch 100, Adam(1e-4, beta1 0.5); "
            f"MLGAN's center variant, MBGAN alpha = 2, GN-GAN's paper toy weights (lambda_p = lambda_m = 0.1, lambda_r = 1). Study per (GAN, "
            f"mixture) for `best`: {args.study_trials} trials (TPE, registered defaults first, run "
            f"seed 0), at most {args.study_steps} steps, ASHA grace {args.study_eval} / reduction "
            f"factor {REDUCTION_FACTOR}, {STUDY_CONCURRENT} trials at a time, optimising "
            f"`{args.study_metric}`; its best trial's parameters retrained with each seed. Published "
            f"rows: 2,500 points, but far longer training (PacGAN: 20k+ iterations).")


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# -- main ----------------------------------------------------------------------------------------
def _plot_path(plots: Path, gan: str, data: str, setting: str) -> Path | None:
    """One scatter plot per (GAN, mixture, setting): the first seed run draws it, later seeds keep it."""
    path = plots / f"{gan}-{data}-{setting}.png"
    return None if path.exists() else path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="iterations per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--gans", nargs="+", default=list(GANS), help="GANs of the defaults setting")
    parser.add_argument("--best-gans", nargs="+", default=None,
                        help="GANs of the best setting (default: the metric-learning GANs)")
    parser.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--phase", choices=["defaults", "best", "all"], default="all")
    parser.add_argument("--study-trials", type=int, default=DEFAULT_STUDY_TRIALS)
    parser.add_argument("--study-steps", type=int, default=None, help="max steps of a study trial (default --steps)")
    parser.add_argument("--study-eval", type=int, default=DEFAULT_STUDY_EVAL, help="study evaluation interval")
    parser.add_argument("--study-metric", default=DEFAULT_STUDY_METRIC)
    parser.add_argument("--out", default=str(RESULTS / "mode_coverage"), help="output prefix (.md/.json)")
    parser.add_argument("--processes", type=int, default=1, help="runs of the defaults phase at once (1 thread each)")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: 20 steps, 2 GANs, a 2-trial study, temp output")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.steps, args.seeds, args.gans, args.best_gans, args.data = (
            SMOKE["steps"], SMOKE["seeds"], SMOKE["gans"], SMOKE["best_gans"], SMOKE["data"])
        args.study_trials, args.study_steps, args.study_eval = (
            SMOKE["study_trials"], SMOKE["study_steps"], SMOKE["study_eval"])
        args.out = str(Path(tempfile.mkdtemp()) / "mode_coverage")
    args.best_gans = args.best_gans or metric_learning_gans()
    args.study_steps = args.study_steps or args.steps
    args.study_eval = min(args.study_eval, args.study_steps)
    torch.set_num_threads(1)
    os.environ.setdefault("RAY_DASHBOARD_ENABLED", "0")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = out.parent / f"{out.name}_scatter"
    store = out.with_suffix(".json")
    saved = json.loads(store.read_text()) if store.is_file() else {"rows": [], "studies": {}}
    rows, studies, note = saved["rows"], saved["studies"], saved.get("note", "")
    header = header_text(args) + (f"\n\n{note}" if note else "")  # note: which runs the file holds (kept in the .json)

    def done(setting, gan, data, seed):
        return any(r["setting"] == setting and r["gan"] == gan and r["data"] == data
                   and r["seed"] == seed and r["steps"] == args.steps for r in rows)

    def save():
        store.write_text(json.dumps({"rows": rows, "studies": studies, "note": note}, indent=1, default=str))
        out.with_suffix(".md").write_text(table(rows, studies, header))

    def one(setting, gan, data, seed, best):
        if done(setting, gan, data, seed):
            return
        plot = _plot_path(plots, gan, data, setting)
        result = train_and_measure(run_config(gan, data, args.steps, seed, best), plot)
        rows.append({"setting": setting, "gan": gan, "data": data, "seed": seed, "steps": args.steps, **result})
        print(json.dumps(rows[-1]), flush=True)
        save()

    if args.phase in ("defaults", "all"):
        jobs = [(gan, data, seed) for data in args.data for gan in args.gans for seed in args.seeds
                if not done("defaults", gan, data, seed)]
        configs = [(run_config(gan, data, args.steps, seed, None), _plot_path(plots, gan, data, "defaults"))
                   for gan, data, seed in jobs]
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.processes) as pool:
            for (gan, data, seed), result in zip(jobs, pool.imap(_train_job, configs)):
                rows.append({"setting": "defaults", "gan": gan, "data": data, "seed": seed,
                             "steps": args.steps, **result})
                print(json.dumps(rows[-1]), flush=True)
                save()
    if args.phase in ("best", "all"):
        import ray

        with tempfile.TemporaryDirectory(prefix="mode-coverage-") as tmp:
            try:
                for data in args.data:
                    for gan in args.best_gans:
                        key = f"{gan}/{data}"
                        if key not in studies or studies[key].get("study_steps") != args.study_steps:
                            print(f"[{key}] study: {args.study_trials} trials, {args.study_steps} steps", flush=True)
                            studies[key] = {**best_config(gan, data, args, Path(tmp)),
                                            "study_steps": args.study_steps}
                            save()
                        for seed in args.seeds:
                            one("best", gan, data, seed, studies[key])
            finally:
                if ray.is_initialized():
                    ray.shutdown()
    save()
    print(table(rows, studies, header), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
