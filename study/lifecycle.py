"""A study's lifecycle: create it, run every GAN's sweep, finish it (leaderboard, model registry,
summary), resume it after an interruption.

``run_study(study)`` creates the study directory ``<storage_path>/<name>/`` (resolved study file
``study.yaml``, state file ``study_state.json``, ``mlflow.db`` + ``mlruns/`` for the default
sqlite tracking, ``optuna.db``), the MLflow experiment and parent run, starts Ray, and runs the
trials of every GAN at once as one Tuner in ``<study dir>/sweep/`` (``study.sweep``).

With ``search.repeats``, the top configurations of each GAN are then retrained with new seeds
(``study.repeats``, ``<study dir>/repeats/``). ``resume_study`` restores an interrupted sweep
(or the repeats), reusing the parent run and each trial's child.
At the end: the leaderboard (table + ``leaderboard.md/json`` + parent artifacts), budget curves
and importances, each GAN's best samples side by side and its trials' curves (``study.figures``),
a Pareto search's fronts (``study.pareto``), the best generator registered in the MLflow model
registry under the study name, and the ``mlflow ui`` command to browse it all.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import ray

from study import console, report, tracking
from study.budget import budget_curves, plot_budget_curves
from study.cluster import start_ray_checked
from study.figures import CURVES, SIDE_BY_SIDE, best_samples_figure, curves_figure
from study.importance import format_importances, param_importances
from study.pareto import PARETO_PLOT, format_pareto, pareto_figure, pareto_trials
from study.preflight import preflight
from study.repeats import run_repeats
from study.state import (RESOLVED_FILE, STATE_FILE, STATE_VERSION, dump_resolved, find_study_dir,
                         load_study_dir, write_state)
from study.study_file import StudyError, StudyFile
from study.sweep import StudyInterrupted, TrackingStoreDown, run_sweep
from trainables.metric_names import best_of

__all__ = ["StudyInterrupted", "TrackingStoreDown", "resume_study", "run_study", "study_leaderboard"]

def runs_view(experiment_id: str, metric: str | None = None, mode: str = "max") -> str:
    """The MLflow 3 URL fragment of an experiment's runs table (not its GenAI traces overview),
    sorted by ``best/<metric>``, best first (MLflow 3.17 reads the sort only on the ``/runs`` path)."""
    view = f"#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    if metric:
        view += f"&orderByKey={quote(f'metrics.`{best_of(metric)}`', safe='')}&orderByAsc={str(mode == 'min').lower()}"
    return view


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
    """Run (or restore) the study's sweep of every GAN at once, then finish the study; returns
    the leaderboard."""
    study_dir = study.study_dir.resolve()
    console.quiet_driver()
    if started_ray is None:
        started_ray = start_ray_checked(study)
    t0 = time.time()
    state["status"] = "running"
    write_state(study_dir, state)
    try:
        state["gans"] = {gan: "running" for gan in study.gans}
        write_state(study_dir, state)
        repeating = state.get("phase") == "repeats"  # the search finished before the interruption
        if not repeating:
            run_sweep(study, state, resume=resume)
        if study.search.repeats:
            state["phase"] = "repeats"
            write_state(study_dir, state)
            run_repeats(study, state, resume=resume and repeating)
        state["gans"] = {gan: "done" for gan in study.gans}
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
    except BaseException as exc:
        state["status"] = "failed"
        state["wall_s"] = state.get("wall_s", 0.0) + time.time() - t0
        write_state(study_dir, state)
        if tracking.store_unreachable(exc):
            raise TrackingStoreDown(
                f"study {study.name}: the MLflow tracking store {state['tracking_uri']} stopped answering "
                f"(MLflow gave up after MLFLOW_HTTP_REQUEST_MAX_RETRIES retries); what was recorded is kept: "
                f"once it answers, finish the study with: study resume {study_dir}") from exc
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
    figures = analyse(study, rows) + comparison_figures(study, state, rows)
    files = report.save_leaderboard(rows, study_dir) + figures
    front = pareto_section(study, state, study_dir)
    files += [study_dir / PARETO_PLOT] if front else []
    client = tracking.client_for(uri)
    for path in files:
        client.log_artifact(parent, str(path))
    if rows:
        client.set_tag(parent, tracking.TAG_NOTE, report.front_page(rows, study.name, state["experiment_id"])
                       + front.replace(f"![Pareto fronts]({PARETO_PLOT})\n\n", ""))
    for row in rows:  # each GAN's best on the parent (best/<gan>/<metric>), then the study's
        client.log_metric(parent, best_of(f"{row['gan']}/{row['metric']}"), row["value"])
    if rows:
        best = rows[0]
        client.log_metric(parent, best_of(best["metric"]), best["value"])
        client.set_tag(parent, tracking.TAG_BEST_RUN_ID, best["run_id"])
        client.set_tag(parent, tracking.TAG_BEST_GAN, best["gan"])
        if study.mlflow.register_model:
            version = tracking.register_best(uri, study.name, best)
            state["registered_model"] = {"name": study.name, "version": version}
    if rows and study.scheduler.type == "asha":
        state["rung_medians"] = report.rung_medians(uri, state["experiment_id"], parent, rows[0]["metric"],
                                                    study.asha_rungs)
    client.set_terminated(parent, "FINISHED")
    print_summary(study, state, rows)
    return rows


def pareto_section(study: StudyFile, state: dict, study_dir: Path) -> str:
    """A Pareto search's fronts (``study.pareto``): ``pareto_front.png`` written and the Markdown
    section appended to ``leaderboard.md``; returns that section ('' for one metric)."""
    if not study.pareto:
        return ""
    by_gan = pareto_trials(state["tracking_uri"], state["experiment_id"], state["parent_run_id"], study.objectives)
    if not pareto_figure(by_gan, study.objectives, study_dir / PARETO_PLOT, f"{study.name}: Pareto front per GAN"):
        return ""
    section = format_pareto(by_gan, study.objectives, markdown=True)
    with open(study_dir / "leaderboard.md", "a") as out:
        out.write(section)
    return section


def analyse(study: StudyFile, rows: list[dict]) -> list[Path]:
    """Each GAN's budget curve (``row["budget"]``) and fANOVA importances
    (``row["importances"]``) added to the leaderboard rows; returns the budget plot's path."""
    curves = budget_curves(rows)
    storage = study.optuna_storage
    for row in rows:
        row["budget"] = curves.get(row["gan"])
        row["importances"] = param_importances(f"{study.name}-{row['gan']}", storage)
    if not curves:
        return []
    title = f"{study.name}: expected best after k trials (95% bootstrap band)"
    return [plot_budget_curves(curves, rows[0]["metric"], study.study_dir.resolve() / report.BUDGET_PLOT, title)]


def comparison_figures(study: StudyFile, state: dict, rows: list[dict]) -> list[Path]:
    """Each GAN's best samples side by side and every trial's curve per GAN (``study.figures``),
    saved in the study directory."""
    study_dir = study.study_dir.resolve()
    uri = state["tracking_uri"]
    made = [best_samples_figure(uri, rows, study_dir / SIDE_BY_SIDE),
            curves_figure(uri, state["experiment_id"], state["parent_run_id"], rows, study_dir / CURVES)]
    return [path for path in made if path is not None]


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
    budget = report.format_budget(rows)
    if budget:
        print("\n" + budget, flush=True)
    importances = {r["gan"]: r["importances"] for r in rows if r.get("importances")}
    if importances:
        print("hyperparameter importance (fANOVA share of the metric's variance):\n"
              + format_importances(importances), flush=True)
    if study.pareto:
        print("\n" + format_pareto(pareto_trials(state["tracking_uri"], state["experiment_id"],
                                                  state["parent_run_id"], study.objectives), study.objectives))
    medians = state.get("rung_medians")
    if medians:
        print("ASHA rung medians of " + rows[0]["metric"] + ": "
              + ", ".join(f"{m:.3g} at step {r}" for r, m in medians.items()))
    reg = state.get("registered_model")
    if reg:
        print(f"registered model: models:/{reg['name']}/{reg['version']}")
    print(f"leaderboard: {study.study_dir.resolve() / 'leaderboard.md'}")
    if any(study.optuna_searched(gan) for gan in study.gans):
        print(f"Optuna studies (one per GAN): optuna-dashboard {study.optuna_storage}   "
              f"(pip install -e '.[dashboard]')")
    uri = state["tracking_uri"]
    view = runs_view(state["experiment_id"], *(rows[0]["metric"], rows[0]["mode"]) if rows else ())
    if uri.startswith(("http://", "https://")):
        print(f"browse it:  {uri.rstrip('/')}/{view}", flush=True)
    else:
        print(f"browse it:  mlflow ui --backend-store-uri {uri}   then open http://127.0.0.1:5000/{view}", flush=True)


# -- entry points --------------------------------------------------------------------------------
def run_study(study: StudyFile) -> list[dict]:
    """Create and run a new study; returns the leaderboard rows."""
    console.quiet_driver()
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
    """Finish an interrupted study: its sweep is restored (finished trials are kept)."""
    console.quiet_driver()
    study_dir = Path(study_dir).resolve()
    study, state = load_study_dir(study_dir)
    if state["status"] == "done":
        print(f"study {study.name} is already done", flush=True)
        rows = _rows(state)
        print_summary(study, state, rows)
        return rows
    if state["version"] != STATE_VERSION:
        raise StudyError(f"{study_dir}: made by an older version (state version {state['version']}, one "
                         f"sweep per GAN) that cannot be resumed; its runs stay browsable")
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
