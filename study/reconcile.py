"""Cleaning up after a killed driver: orphaned MLflow runs and Optuna trials, stale sweep folders."""

from __future__ import annotations

import json

import optuna
import pyarrow.fs

from study import tracking
from study.study_file import StudyFile, is_uri
from study.tracking import TAG_SEARCHED, TAG_STOP_REASON, TAG_TRIAL_ID
from study.trial_checkpoints import DELETED_MARKER, checkpoint_index

ORPHANED = "orphaned"  # stop_reason of an MLflow child whose trial a killed driver lost


def filesystem(path: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """(pyarrow filesystem, path inside it) of a local path or a URI (s3://, gs://, ...)."""
    return pyarrow.fs.FileSystem.from_uri(path) if is_uri(path) else (pyarrow.fs.LocalFileSystem(), path)


def remove_dir(path: str) -> bool:
    """Delete a folder on the local disk or behind a URI (pyarrow filesystems: s3://, gs://);
    False when there was none."""
    fs, inner = filesystem(path)
    if fs.get_file_info(inner).type == pyarrow.fs.FileType.NotFound:
        return False
    fs.delete_dir(inner)
    return True


def mark_deleted_checkpoints(exp_dir: str) -> int:
    """Before a killed sweep is restored: put a placeholder folder (holding only
    :data:`~study.trial_checkpoints.DELETED_MARKER`) at every gap of each trial's ``checkpoint_NNNNNN``
    numbering below its newest checkpoint. Returns the number of placeholders made.

    Tune deletes a trial's older checkpoints as it writes new ones (``num_to_keep``) but snapshots
    the experiment only every few seconds: a driver killed in between leaves a snapshot naming a
    deleted folder, and Tune's restore fails that trial ("does not exist on storage anymore").
    With the placeholder there, the trial starts and resumes from its newest real checkpoint
    (:func:`study.trial_checkpoints.load_trial_checkpoint`). Works on local paths and URIs (pyarrow).
    """
    fs, root = filesystem(exp_dir)
    made = 0
    for trial in fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True)):
        if trial.type != pyarrow.fs.FileType.Directory:
            continue
        indices = {checkpoint_index(i.base_name) for i in fs.get_file_info(pyarrow.fs.FileSelector(trial.path))
                   if i.type == pyarrow.fs.FileType.Directory} - {-1}
        for index in sorted(set(range(max(indices, default=0))) - indices):
            folder = f"{trial.path}/checkpoint_{index:06d}"
            fs.create_dir(folder)
            with fs.open_output_stream(f"{folder}/{DELETED_MARKER}") as out:
                out.write(b"deleted by Tune after the experiment snapshot a killed driver left\n")
            made += 1
    return made


def reconcile_sweep(study: StudyFile, gan: str, state: dict, trial_ids: set[str]) -> dict:
    """After a sweep, remove what a killed driver can leave behind (a trial started after Tune's
    last experiment snapshot is unknown to the restored sweep, which runs a replacement):

    - MLflow children of ``gan`` whose ``trial_id`` is not a trial of the sweep: closed KILLED
      with ``stop_reason = orphaned`` (kept for inspection, never ranked);
    - Optuna trials of ``<study>-<gan>`` still RUNNING: set FAIL (else the constant-liar TPE
      keeps treating them as pending, and they would look like extra trials);
    - trials that errored (Optuna was told FAIL) and then finished after ``study resume``
      restored them: their result added to Optuna (:func:`add_resumed_results`).

    Returns ``{"mlflow": n, "optuna": m, "resumed": k}`` (counts).
    """
    uri = state["tracking_uri"]
    n_runs = 0
    runs = tracking.children(uri, state["experiment_id"], state["parent_run_id"], gan)
    for run in runs:
        if run.data.tags.get(TAG_TRIAL_ID) not in trial_ids:
            if run.data.tags.get(TAG_STOP_REASON) != ORPHANED or run.info.status == "RUNNING":
                tracking.close_run(uri, run.info.run_id, "KILLED", ORPHANED, curve=False)
                n_runs += 1
    n_optuna = 0
    if study.optuna_searched(gan):
        searched = optuna.load_study(study_name=f"{study.name}-{gan}",
                                     storage=study.optuna_storage)
        for trial in searched.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            searched.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            n_optuna += 1
        resumed = add_resumed_results(searched, [r for r in runs if r.data.tags.get(TAG_TRIAL_ID) in trial_ids],
                                      [m for m, _ in study.objectives])
    else:
        resumed = 0
    if n_runs or n_optuna:
        print(f"[{gan}] closed {n_runs} orphaned MLflow run(s) and {n_optuna} orphaned Optuna "
              f"trial(s) left by a killed driver", flush=True)
    return {"mlflow": n_runs, "optuna": n_optuna, "resumed": resumed}


FINISHED_REASONS = ("completed", "early_stopped", "max_t")  # stop reasons of a trial with a result


def add_resumed_results(searched: optuna.Study, runs: list, metrics: list[str]) -> int:
    """A trial that errored (e.g. its tracking server was down past MLflow's retry bound) was told
    FAIL; when ``study resume`` restores and finishes it, Ray's OptunaSearch cannot tell the
    finished trial ("Cannot tell a FAIL trial"). For each such MLflow run (FINISHED, a stop reason
    with a result, its searched point equal to a FAIL trial's parameters and to no COMPLETE one),
    add a COMPLETE trial with those parameters and its last values of ``metrics`` (what
    OptunaSearch would have told), noting the failed trial's number (``user_attrs.resumed_from``).
    Returns how many were added."""
    states = optuna.trial.TrialState
    trials = searched.get_trials(deepcopy=False, states=(states.FAIL, states.COMPLETE))
    done = [t.params for t in trials if t.state == states.COMPLETE]
    added = 0
    for run in runs:
        point = json.loads(run.data.tags.get(TAG_SEARCHED) or "{}")
        failed = [t for t in trials if t.state == states.FAIL and t.params == point]
        if (run.info.status != "FINISHED" or run.data.tags.get(TAG_STOP_REASON) not in FINISHED_REASONS
                or not failed or point in done or not all(m in run.data.metrics for m in metrics)):
            continue
        searched.add_trial(optuna.trial.create_trial(
            params=failed[-1].params, distributions=failed[-1].distributions,
            values=[run.data.metrics[m] for m in metrics], user_attrs={"resumed_from": failed[-1].number}))
        done.append(point)
        added += 1
    return added
