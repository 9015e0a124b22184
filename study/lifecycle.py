"""A study's lifecycle: create it, run every GAN's sweep, finish it (leaderboard, model registry,
summary), resume it after an interruption.

``run_study(study)`` creates the study directory ``<storage_path>/<name>/`` (resolved study file
``study.yaml``, state file ``study_state.json``, ``mlflow.db`` + ``mlruns/`` for the default
sqlite tracking, ``optuna.db``), the MLflow experiment and parent run, starts Ray, and runs the
GANs one after another, each as a Tuner in ``<study dir>/<gan>/`` (``study.sweep``).

A finished GAN is marked ``done`` in the state file; ``resume_study`` skips those and restores
an interrupted sweep, reusing the parent run and each trial's child. At the end: the leaderboard
(table + ``leaderboard.md/json`` + parent artifacts), the best generator registered in the
MLflow model registry under the study name, and the ``mlflow ui`` command to browse it all.
"""

from __future__ import annotations

import time
from pathlib import Path

import ray

from study import report, tracking
from study.cluster import start_ray_checked
from study.preflight import preflight
from study.state import (RESOLVED_FILE, STATE_FILE, STATE_VERSION, dump_resolved, find_study_dir,
                         load_study_dir, write_state)
from study.study_file import StudyError, StudyFile
from study.sweep import StudyInterrupted, run_sweep
from trainables.metric_names import best_of

__all__ = ["StudyInterrupted", "resume_study", "run_study", "study_leaderboard"]


def prepare_study(study: StudyFile) -> dict:
    """Create the study directory, the resolved file, the MLflow DB/experiment/parent run and the
    state file (before any trial exists). Refuses an existing study."""
    study_dir = study.study_dir
    if (study_dir / STATE_FILE).exists():
        raise StudyError(f"{study_dir}: a study named {study.name!r} already exists; resume it with "
                         f"`study resume {study_dir}` or choose another name")
    study_dir.mkdir(parents=True, exist_ok=True)
    resolved = dump_resolved(study, study_dir / RESOLVED_FILE)
    uri = study.tracking_uri
    artifact_root = study_dir / "mlruns" if uri.startswith("sqlite:") else None
    experiment_id = tracking.ensure_experiment(uri, study.experiment_name, artifact_root)
    parent = tracking.start_parent(uri, experiment_id, study, resolved)
    state = {"version": STATE_VERSION, "name": study.name, "study": study.to_dict(),
             "tracking_uri": uri, "experiment_id": experiment_id, "parent_run_id": parent,
             "gans": {gan: "pending" for gan in study.gans}, "status": "created",
             "started": time.time(), "wall_s": 0.0}
    write_state(study_dir, state)
    return state


def run_gans(study: StudyFile, state: dict, *, resume: bool, started_ray: bool | None = None) -> list[dict]:
    """Run every GAN sweep not yet done, then finish the study; returns the leaderboard."""
    study_dir = study.study_dir.resolve()
    if started_ray is None:
        started_ray = start_ray_checked(study)
    t0 = time.time()
    state["status"] = "running"
    write_state(study_dir, state)
    try:
        for gan in study.gans:
            if state["gans"].get(gan) == "done":
                print(f"[{gan}] already done: skipped", flush=True)
                continue
            state["gans"][gan] = "running"
            write_state(study_dir, state)
            run_sweep(study, gan, state, resume=resume)
            state["gans"][gan] = "done"
            write_state(study_dir, state)
        state["wall_s"] = state.get("wall_s", 0.0) + time.time() - t0
        rows = finish_study(study, state)
        state["status"] = "done"
        write_state(study_dir, state)
        return rows
    except (StudyInterrupted, KeyboardInterrupt):
        state["status"] = "interrupted"
        state["wall_s"] = state.get("wall_s", 0.0) + time.time() - t0
        write_state(study_dir, state)
        n = tracking.kill_running(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])
        tracking.client_for(state["tracking_uri"]).set_terminated(state["parent_run_id"], "KILLED")
        print(f"study {study.name} interrupted ({n} running trials marked KILLED); "
              f"continue it with:\n  study resume {study_dir}", flush=True)
        raise StudyInterrupted(study.name) from None
    except BaseException:
        state["status"] = "failed"
        write_state(study_dir, state)
        tracking.client_for(state["tracking_uri"]).set_terminated(state["parent_run_id"], "FAILED")
        raise
    finally:
        if started_ray:
            ray.shutdown()


def finish_study(study: StudyFile, state: dict) -> list[dict]:
    """Leaderboard (printed, saved, parent artifacts), model registration, parent closed."""
    study_dir = study.study_dir.resolve()
    uri, parent = state["tracking_uri"], state["parent_run_id"]
    rows = report.leaderboard(uri, state["experiment_id"], parent)
    files = report.save_leaderboard(rows, study_dir)
    client = tracking.client_for(uri)
    for path in files:
        client.log_artifact(parent, str(path))
    for row in rows:  # each GAN's best on the parent (best/<gan>/<metric>), then the study's
        client.log_metric(parent, best_of(f"{row['gan']}/{row['metric']}"), row["value"])
    if rows:
        best = rows[0]
        client.log_metric(parent, best_of(best["metric"]), best["value"])
        client.set_tag(parent, "best_run_id", best["run_id"])
        client.set_tag(parent, "best_gan", best["gan"])
        if study.mlflow.register_model:
            version = tracking.register_best(uri, study.name, best["run_id"], {
                "gan": best["gan"], "metric": best["metric"], "value": best["value"],
                "step": best["step"], "trial_id": best["trial_id"]})
            state["registered_model"] = {"name": study.name, "version": version}
    if rows and study.scheduler.type == "asha":
        state["rung_medians"] = report.rung_medians(uri, state["experiment_id"], parent, rows[0]["metric"],
                                                    study.asha_rungs)
    client.set_terminated(parent, "FINISHED")
    print_summary(study, state, rows)
    return rows


def print_summary(study: StudyFile, state: dict, rows: list[dict]) -> None:
    print(f"\nstudy {study.name}: {len(study.gans)} GAN(s) on {study.dataset_name}, "
          f"wall time {state.get('wall_s', 0.0):.0f}s", flush=True)
    print(report.format_table(rows), flush=True)
    if rows:
        best = rows[0]
        figures = report.figures_line(best, study)
        print(f"\nbest: {best['gan']} trial {best['trial_id']} "
              f"{best['metric']}={best['value']:.4g} at step {best['step']}{figures} "
              f"(MLflow run {best['run_id']})")
    medians = state.get("rung_medians")
    if medians:
        print("ASHA rung medians of " + rows[0]["metric"] + ": "
              + ", ".join(f"{m:.3g} at step {r}" for r, m in medians.items()))
    reg = state.get("registered_model")
    if reg:
        print(f"registered model: models:/{reg['name']}/{reg['version']}")
    print(f"leaderboard: {study.study_dir.resolve() / 'leaderboard.md'}")
    uri = state["tracking_uri"]
    if uri.startswith(("http://", "https://")):
        print(f"browse it:  {uri}/#/experiments/{state['experiment_id']}", flush=True)
    else:
        print(f"browse it:  mlflow ui --backend-store-uri {uri}", flush=True)


# -- entry points --------------------------------------------------------------------------------
def run_study(study: StudyFile) -> list[dict]:
    """Create and run a new study; returns the leaderboard rows."""
    preflight(study)
    if (study.study_dir / STATE_FILE).exists():
        prepare_study(study)  # raises: the study exists
    started = start_ray_checked(study)
    try:
        state = prepare_study(study)
    except BaseException:
        if started:
            ray.shutdown()
        raise
    print(f"study {study.name}: {study.study_dir.resolve()}  (MLflow {state['tracking_uri']}, "
          f"parent run {state['parent_run_id']})", flush=True)
    return run_gans(study, state, resume=False, started_ray=started)


def resume_study(study_dir: str | Path) -> list[dict]:
    """Finish an interrupted study: done GANs are skipped, the interrupted sweep is restored."""
    study_dir = Path(study_dir).resolve()
    study, state = load_study_dir(study_dir)
    if state["status"] == "done":
        print(f"study {study.name} is already done", flush=True)
        rows = _rows(state)
        print_summary(study, state, rows)
        return rows
    tracking.client_for(state["tracking_uri"]).update_run(state["parent_run_id"], status="RUNNING")
    print(f"resuming study {study.name} ({', '.join(f'{g}: {s}' for g, s in state['gans'].items())})",
          flush=True)
    return run_gans(study, state, resume=True)


def _rows(state: dict) -> list[dict]:
    return report.leaderboard(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])


def study_leaderboard(name_or_dir: str) -> tuple[StudyFile, dict, list[dict]]:
    """(study, state, leaderboard rows) of an existing study, finished or not."""
    study_dir = find_study_dir(name_or_dir)
    study, state = load_study_dir(study_dir)
    return study, state, _rows(state)
