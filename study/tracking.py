"""MLflow wiring of a study, driver side: database, experiment, parent run, closing child runs.

Layout: one experiment per study (name = the study name unless set), one parent run per study
(tag ``kind=study``; params = the flat resolved study file; artifacts: ``study.yaml``, the
leaderboard), one child run per trial (opened by the trainable, see
``trainables.tune_trainable.TrialTracker``). The driver creates the database and the experiment
before any trial starts (on a fresh sqlite file, concurrent trials race on the schema
migration), and closes every child run from a ``tune.Callback`` with the status matching how
the trial ended: FINISHED (completed, or stopped by ASHA: tag ``stop_reason``), FAILED (error).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from ray import tune

from trainables.metric_names import DIVERGED, STEP
from trainables.tune_trainable import (PARAM_KEY_MAX, PARAM_VALUE_MAX, TAG_GAN, TAG_KIND, TAG_PARENT,
                                       TAG_PRIMARY, TAG_STOP_REASON, TAG_STUDY,
                                       find_trial_run)

CURVES_DIR = "curves"  # artifact folder of a child run's metric-curve plot
TERMINAL = ("FINISHED", "FAILED", "KILLED")  # MLflow's final run statuses


def client_for(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri)


def ensure_experiment(uri: str, name: str, artifact_root: Path | None) -> str:
    """Create (or find) the experiment ``name``; on a fresh sqlite URI this creates the
    database too. ``artifact_root`` (absolute) is where a sqlite-backed study keeps artifacts;
    with a tracking server it is None and the server decides. Returns the experiment id."""
    client = client_for(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    location = None if artifact_root is None else Path(artifact_root).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def start_parent(uri: str, experiment_id: str, study, resolved_file: Path) -> str:
    """Open the study's parent run: tags, flat study params, the resolved study file."""
    from mlflow.entities import Param

    from trainables.config import flatten

    client = client_for(uri)
    run = client.create_run(experiment_id, run_name=study.name,
                            tags={TAG_KIND: "study", TAG_STUDY: study.name,
                                  "gans": ",".join(study.gans), "dataset": study.dataset.name})
    params = []
    for key, value in flatten(study.to_dict()).items():
        text = json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
        params.append(Param(key[:PARAM_KEY_MAX], text[:PARAM_VALUE_MAX]))
    for i in range(0, len(params), 100):
        client.log_batch(run.info.run_id, params=params[i:i + 100])
    client.log_artifact(run.info.run_id, str(resolved_file))
    return run.info.run_id


def children(uri: str, experiment_id: str, parent_run_id: str, gan: str | None = None) -> list:
    """All child runs of the parent (optionally of one GAN), oldest first."""
    client = client_for(uri)
    query = f"tags.`{TAG_PARENT}` = '{parent_run_id}'"
    if gan is not None:
        query += f" and tags.{TAG_GAN} = '{gan}'"
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=query, max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def find_child(uri: str, experiment_id: str, parent_run_id: str, trial_id: str):
    """The child run of ``trial_id`` (the trainable's own lookup), None if not created."""
    return find_trial_run(client_for(uri), {"experiment_id": experiment_id,
                                            "parent_run_id": parent_run_id}, trial_id)


def log_curve(uri: str, run_id: str, metric: str | None = None) -> Path | None:
    """Plot the primary metric curve of a child run (from its MLflow history) as an artifact
    ``curves/<metric>.png``; returns the local file (None when nothing was logged)."""
    from study.report import plot_curve

    client = client_for(uri)
    run = client.get_run(run_id)
    metric = metric or run.data.tags.get(TAG_PRIMARY)
    if not metric:
        return None
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, metric))
    if not history:
        return None
    out = Path(tempfile.mkdtemp(prefix="curve-")) / f"{metric.replace('/', '_')}.png"
    plot_curve({metric: history}, out, title=run.info.run_name or run_id)
    client.log_artifact(run_id, str(out), CURVES_DIR)
    return out


def close_run(uri: str, run_id: str, status: str, reason: str, *, curve: bool = True) -> None:
    """Tag ``stop_reason``, log the curve plot and set the final ``status`` of a child run."""
    client = client_for(uri)
    client.set_tag(run_id, TAG_STOP_REASON, reason)
    if curve:
        try:
            log_curve(uri, run_id)
        except Exception as exc:  # a plot must never leave the run RUNNING
            client.set_tag(run_id, "curve_error", str(exc)[:500])
    client.set_terminated(run_id, status)


def kill_running(uri: str, experiment_id: str, parent_run_id: str) -> int:
    """Mark every still-RUNNING child KILLED (interrupted study); returns how many. A resumed
    trial sets its run back to RUNNING."""
    client, n = client_for(uri), 0
    for run in children(uri, experiment_id, parent_run_id):
        if run.info.status == "RUNNING":
            client.set_tag(run.info.run_id, TAG_STOP_REASON, "killed")
            client.set_terminated(run.info.run_id, "KILLED")
            n += 1
    return n


class TrialRunCloser(tune.Callback):
    """Driver-side callback: closes each trial's MLflow child run and prints one line per trial.

    ``on_trial_complete`` (the trial returned, or a scheduler stopped it): FINISHED, with
    ``stop_reason`` = ``completed`` (reached ``max_steps``), ``early_stopped`` (ASHA stopped it
    before ``max_t``) or ``max_t`` (ASHA's horizon below the budget); a trial whose last result
    says ``diverged`` is closed FAILED, ``stop_reason = diverged``. ``on_trial_error`` (no
    retry left): FAILED, ``stop_reason = error``. Retries (``on_trial_recover``) leave the run
    open: the restarted trial reuses it.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, gan: str,
                 metric: str, mode: str, max_steps: int, max_t: int):
        self.uri, self.experiment_id, self.parent = tracking_uri, experiment_id, parent_run_id
        self.gan, self.metric, self.mode = gan, metric, mode
        self.max_steps, self.max_t = max_steps, max_t
        self.started: dict[str, float] = {}

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started.setdefault(trial.trial_id, time.time())

    def _reason(self, trial) -> str:
        step = int((trial.last_result or {}).get(STEP, -1))
        if step >= self.max_steps:
            return "completed"
        return "max_t" if step >= self.max_t else "early_stopped"

    def _close(self, trial, status: str, reason: str) -> None:
        run = find_child(self.uri, self.experiment_id, self.parent, trial.trial_id)
        if run is not None and run.info.status in ("FINISHED", "FAILED"):
            # closed before a driver kill; the restored trial only replayed its end
            reason = run.data.tags.get(TAG_STOP_REASON, reason)
        elif run is not None:
            close_run(self.uri, run.info.run_id, status, reason)
        last = trial.last_result or {}
        value = last.get(self.metric)
        shown = "-" if value is None else f"{value:.4g}"
        elapsed = time.time() - self.started.get(trial.trial_id, time.time())
        error = f" (error file: {trial.error_file})" if status == "FAILED" else ""
        print(f"[{self.gan}] trial {trial.trial_id} {reason} at step {last.get(STEP, '-')}: "
              f"{self.metric}={shown} ({elapsed:.0f}s, run {run.info.run_id if run else '-'}){error}",
              flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        if (trial.last_result or {}).get(DIVERGED):
            self._close(trial, "FAILED", "diverged")
        else:
            self._close(trial, "FINISHED", self._reason(trial))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._close(trial, "FAILED", "error")


def register_best(uri: str, name: str, run_id: str, tags: dict) -> int:
    """Register the best child run's ``checkpoints/`` artifact folder (holding ``best.pt``) as
    a new version of the registered model ``name``; returns the version number.

    MLflow 3's ``mlflow.register_model`` wants a logged model; a plain artifact folder is
    registered with ``MlflowClient.create_model_version(source="runs:/<id>/checkpoints")``,
    which works on sqlite stores and downloads with ``models:/<name>/<version>``.
    """
    from mlflow.exceptions import MlflowException

    from trainables.tune_trainable import CHECKPOINTS_DIR

    client = client_for(uri)
    try:
        client.create_registered_model(name, description="Best generator of the study (best.pt: "
                                                         "config + state; GanRun.from_checkpoint)")
    except MlflowException:
        pass  # already registered: add a version
    version = client.create_model_version(name, source=f"runs:/{run_id}/{CHECKPOINTS_DIR}",
                                          run_id=run_id,
                                          tags={k: str(v)[:PARAM_VALUE_MAX] for k, v in tags.items()})
    return int(version.version)
