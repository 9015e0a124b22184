"""Driver-side Tune hooks of a sweep: closing each trial's MLflow run, the progress table."""

from __future__ import annotations

import time

from ray import tune
from ray.tune import CLIReporter

import search_spaces
from study.routing import trial_gan
from study.study_file import StudyFile
from study.tracking import TAG_DIVERGED_LOSSES, TAG_STOP_REASON, close_run, find_child
from trainables.data.families import group_of
from trainables.metric_names import DIVERGED, EVAL_HQ, EVAL_KID, STEP

class TrialRunCloser(tune.Callback):
    """Driver-side callback: closes each trial's MLflow child run and prints one line per trial.

    ``on_trial_complete`` (the trial returned, or a scheduler stopped it): FINISHED, with
    ``stop_reason`` = ``completed`` (reached ``max_steps``), ``early_stopped`` (ASHA stopped it
    before ``max_t``) or ``max_t`` (ASHA's horizon below the budget); a trial whose last result
    says ``diverged`` is closed FAILED, ``stop_reason = diverged``. ``on_trial_error`` (no
    retry left): FAILED, ``stop_reason = error``. Retries (``on_trial_recover``) leave the run
    open: the restarted trial reuses it.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str,
                 metric: str, mode: str, max_steps: int, max_t: int):
        self.uri, self.experiment_id, self.parent = tracking_uri, experiment_id, parent_run_id
        self.metric, self.mode = metric, mode
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
        print(f"[{trial_gan(trial)}] trial {trial.trial_id} {reason} at step {last.get(STEP, '-')}: "
              f"{self.metric}={shown} ({elapsed:.0f}s, run {run.info.run_id if run else '-'})"
              + (f": {failure_reason(trial, run, reason)}" if status == "FAILED" else ""), flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        if (trial.last_result or {}).get(DIVERGED):
            self._close(trial, "FAILED", "diverged")
        else:
            self._close(trial, "FINISHED", self._reason(trial))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._close(trial, "FAILED", "error")


def failure_reason(trial, run, reason: str, width: int = 160) -> str:
    """One line saying why a trial failed: the losses that diverged (its MLflow tag), or the last
    line of Tune's error file (the exception and its message) with the file's path."""
    if reason == "diverged":
        losses = run.data.tags.get(TAG_DIVERGED_LOSSES, "") if run is not None else ""
        return f"losses {losses}"[:width]
    path = getattr(trial, "error_file", None)
    try:
        lines = [line.strip() for line in open(path).read().splitlines() if line.strip()] if path else []
    except OSError:
        lines = []
    last = lines[-1] if lines else "no error file"
    return f"{last[:width]} (error file: {path})"


def _shared_columns(study: StudyFile) -> dict:
    """Parameter columns every GAN of the study has (conditional parameters are left out: Tune's
    "best trial" line raises KeyError on a column missing from the best trial's config)."""
    shared = None
    for gan in study.gans:
        points = study.grid_points(gan)
        if points is None:
            keys = {k for k, info in search_spaces.space_params(gan, study.family).items() if not info["when"]}
        else:
            keys = {f"grid_point/{k}" for k in points[0]}
        shared = keys if shared is None else shared & keys
    return {k: k.split(".")[-1].split("/")[-1] for k in sorted(shared or ())}


def progress_reporter(study: StudyFile, metric: str):
    """Tune's compact table (status, GAN, step, metric, shared searched parameters), every 30 s
    at most."""
    extra = {EVAL_HQ: "hq"} if metric != EVAL_HQ and group_of(study.family) == "toy" else {EVAL_KID: "kid"}
    metrics = {STEP: "step", metric: metric.split("/")[-1], **extra}
    params = {"study/gan": "gan", **_shared_columns(study)}
    return CLIReporter(metric_columns=metrics, parameter_columns=params,
                       sort_by_metric=True, max_progress_rows=30, max_report_frequency=30,
                       max_column_length=12)
