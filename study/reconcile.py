"""Cleaning up after a killed driver: orphaned MLflow runs and Optuna trials, stale sweep folders."""

from __future__ import annotations

import optuna
import pyarrow.fs

from study import tracking
from study.study_file import StudyFile, is_uri
from study.tracking import TAG_STOP_REASON, TAG_TRIAL_ID

ORPHANED = "orphaned"  # stop_reason of an MLflow child whose trial a killed driver lost


def remove_dir(path: str) -> bool:
    """Delete a folder on the local disk or behind a URI (pyarrow filesystems: s3://, gs://);
    False when there was none."""
    fs, inner = pyarrow.fs.FileSystem.from_uri(path) if is_uri(path) else \
        (pyarrow.fs.LocalFileSystem(), path)
    if fs.get_file_info(inner).type == pyarrow.fs.FileType.NotFound:
        return False
    fs.delete_dir(inner)
    return True


def reconcile_sweep(study: StudyFile, gan: str, state: dict, trial_ids: set[str]) -> dict:
    """After a sweep, remove what a killed driver can leave behind (a trial started after Tune's
    last experiment snapshot is unknown to the restored sweep, which runs a replacement):

    - MLflow children of ``gan`` whose ``trial_id`` is not a trial of the sweep: closed KILLED
      with ``stop_reason = orphaned`` (kept for inspection, never ranked);
    - Optuna trials of ``<study>-<gan>`` still RUNNING: set FAIL (else the constant-liar TPE
      keeps treating them as pending, and they would look like extra trials).

    Returns ``{"mlflow": n, "optuna": m}`` (counts of orphans closed).
    """
    uri = state["tracking_uri"]
    n_runs = 0
    for run in tracking.children(uri, state["experiment_id"], state["parent_run_id"], gan):
        if run.data.tags.get(TAG_TRIAL_ID) not in trial_ids:
            if run.data.tags.get(TAG_STOP_REASON) != ORPHANED or run.info.status == "RUNNING":
                tracking.close_run(uri, run.info.run_id, "KILLED", ORPHANED, curve=False)
                n_runs += 1
    n_optuna = 0
    if study.optuna_searched(gan):
        searched = optuna.load_study(study_name=f"{study.name}-{gan}",
                                     storage=f"sqlite:///{study.study_dir.resolve()}/optuna.db")
        for trial in searched.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            searched.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            n_optuna += 1
    if n_runs or n_optuna:
        print(f"[{gan}] closed {n_runs} orphaned MLflow run(s) and {n_optuna} orphaned Optuna "
              f"trial(s) left by a killed driver", flush=True)
    return {"mlflow": n_runs, "optuna": n_optuna}
