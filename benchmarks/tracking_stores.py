"""Many trials logging at once to each tracking store: wall time, lost writes, retries (issue 33).

``--trials`` simulated trials (processes, no training) write what a study's trial writes, through
the project's own :class:`~study.tracking.TrialTracker`: a child run under one parent (tags,
params, ``config.yaml``), the losses of every step in ``log_batch`` calls every 50 steps, an
evaluation (5 metrics, ``best/`` values, a sample PNG artifact) every ``--eval-every`` steps, then
FINISHED. Each store gets the same load, all trials started together:

- ``postgresql``: ``mlflow server`` on a PostgreSQL backend (a throwaway cluster started here,
  Debian's ``postgresql`` package);
- ``server-sqlite``: ``mlflow server`` on a sqlite file;
- ``sqlite``: the study default, every trial writing the sqlite file directly.

Afterwards every run is read back: ``lost`` = expected metric points + artifacts not found (must be
0), ``failed calls`` = MLflow calls that raised in a trial (each a lost write), ``retries`` = HTTP
retries MLflow's client made (urllib3's "Retrying" warnings, counted in each trial).
Writes ``benchmarks/results/tracking_stores.md`` and ``.json``::

    python benchmarks/tracking_stores.py --trials 16 --steps 1000
    python benchmarks/tracking_stores.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
sys.path.insert(0, str(ROOT / "tests" / "study"))  # the test suite's server helpers

from trainables import metric_names as M  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
# MLflow 3.17's telemetry thread sets and pops an environment variable its requests read: with 16
# processes starting at once one log_batch raised KeyError('_MLFLOW_TELEMETRY_SESSION_ID'). No
# telemetry here (nothing outside reachable anyway): the benchmark measures the stores.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
EVALS = (M.EVAL_FIT, M.EVAL_MODES, M.EVAL_HQ, M.EVAL_KL, M.EVAL_MODES_20)


class _Counter(logging.Handler):
    def __init__(self):
        super().__init__()
        self.n = 0

    def emit(self, record):
        if "Retrying" in record.getMessage():
            self.n += 1


def _trial(args: tuple) -> dict:
    """One simulated trial: returns its run id, failed calls and HTTP retries."""
    uri, experiment_id, parent, index, steps, eval_every, png, barrier = args
    from study.tracking import TrialTracker
    from study.trial_spec import TrialStudy
    from trainables.config import resolve_config

    counter = _Counter()
    logging.getLogger("urllib3.connectionpool").addHandler(counter)
    cfg = resolve_config({"gan": "tripletgan", "data": {"name": "ring8"}, "steps": steps})
    study = TrialStudy(tracking_uri=uri, experiment_id=experiment_id, parent_run_id=parent, study_name="stores",
                       gan="tripletgan", trial_index=index, metric=M.EVAL_FIT, mode="max")
    barrier.wait()
    failed, t0 = 0, time.time()
    tracker = TrialTracker(study, f"t{index:03d}", f"trial_{index}", cfg, {"optim.lr_d": 1e-4})
    for step in range(1, steps + 1):
        try:
            tracker.on_losses(step, {M.LOSS_D: 1.0 / step, M.LOSS_G: float(step % 7)})
            if step % eval_every == 0:
                tracker.log_metrics({k: step / steps for k in EVALS}, step)
                tracker.flush(step)
                sample = Path(png).with_name(f"t{index:03d}_step_{step:08d}.png")
                shutil.copy2(png, sample)
                tracker.log_artifact(sample, "samples")
        except Exception:  # a lost write: counted, the trial goes on
            failed += 1
            tracker.buffer.clear()
    try:
        tracker.flush(steps)
        tracker.client.set_terminated(tracker.run_id, "FINISHED")
    except Exception:
        failed += 1
    return {"run_id": tracker.run_id, "failed": failed, "retries": counter.n, "seconds": time.time() - t0}


def _measure(uri: str, trials: int, steps: int, eval_every: int, work: Path) -> dict:
    from mlflow import MlflowClient

    from study.tracking import children, ensure_experiment
    from trainables.plots import scatter_plot
    import torch

    experiment = ensure_experiment(uri, "stores", work / "mlruns" if uri.startswith("sqlite") else None)
    parent = MlflowClient(uri).create_run(experiment, run_name="stores").info.run_id
    png = work / "sample.png"
    scatter_plot(torch.randn(500, 2), "ring8", "a sample image", png)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(trials + 1)
        with ctx.Pool(trials) as pool:
            pending = pool.map_async(_trial, [(uri, experiment, parent, i, steps, eval_every, str(png), barrier)
                                              for i in range(trials)])
            barrier.wait()  # every trial has imported MLflow and torch: start the clock
            t0 = time.time()
            done = pending.get()
            wall = time.time() - t0
    client = MlflowClient(uri)
    runs = {r.info.run_id: r for r in children(uri, experiment, parent)}
    expected_points = 2 * steps + len(EVALS) * (steps // eval_every)
    lost = 0
    for row in done:
        run = runs.get(row["run_id"])
        if run is None:
            lost += expected_points + steps // eval_every
            continue
        found = sum(len({m.step for m in client.get_metric_history(row["run_id"], key)})
                    for key in (M.LOSS_D, M.LOSS_G) + EVALS)
        lost += expected_points - found
        lost += steps // eval_every - len(client.list_artifacts(row["run_id"], "samples"))
    return {"trials": trials, "wall_s": wall, "runs_found": len(runs), "lost": lost,
            "failed_calls": sum(r["failed"] for r in done), "retries": sum(r["retries"] for r in done),
            "slowest_trial_s": max(r["seconds"] for r in done)}


def main(argv=None) -> int:
    from _servers import postgres_bin, postgres_server, start_mlflow_server, stop_group

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--out", default=str(RESULTS / "tracking_stores"))
    parser.add_argument("--smoke-test", action="store_true", help="2 trials, 100 steps, temp output")
    args = parser.parse_args(argv)
    if args.smoke_test:
        args.trials, args.steps, args.eval_every = 2, 100, 50
        args.out = str(Path(tempfile.mkdtemp()) / "tracking_stores")
    results = {}
    work = Path(tempfile.mkdtemp(prefix="stores-"))
    stores = (["postgresql"] if postgres_bin() else []) + ["server-sqlite", "sqlite"]
    for store in stores:
        root = work / store
        root.mkdir()
        print(f"[{store}] {args.trials} trials x {args.steps} steps ...", flush=True)
        if store == "sqlite":
            results[store] = _measure(f"sqlite:///{root / 'mlflow.db'}", args.trials, args.steps, args.eval_every, root)
        elif store == "server-sqlite":
            server = start_mlflow_server(root, f"sqlite:///{root / 'server.db'}")
            try:
                results[store] = _measure(server["url"], args.trials, args.steps, args.eval_every, root)
            finally:
                stop_group(server["proc"])
        else:
            with postgres_server(("mlflow",)) as pg:
                server = start_mlflow_server(root, pg["url"]("mlflow"))
                try:
                    results[store] = _measure(server["url"], args.trials, args.steps, args.eval_every, root)
                finally:
                    stop_group(server["proc"])
        print(f"[{store}] {results[store]}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    lines = ["# Tracking stores under many writers", "", __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"Setting: {args.trials} trials at once, {args.steps} steps each (losses of every step, "
             f"flushed every 50), an evaluation every {args.eval_every} steps; 2 CPU cores shared by the "
             f"trials and the store.", "",
             "| store | wall (s) | slowest trial (s) | runs found | lost writes | failed calls | HTTP retries |",
             "|---|---|---|---|---|---|---|"]
    for store, r in results.items():
        lines.append(f"| {store} | {r['wall_s']:.1f} | {r['slowest_trial_s']:.1f} | {r['runs_found']} / {r['trials']} "
                     f"| {r['lost']} | {r['failed_calls']} | {r['retries']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
