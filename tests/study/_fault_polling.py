"""Polling helpers shared by the fault-injection tests (they act while a study runs)."""

from __future__ import annotations

import json
import time
from pathlib import Path


def wait_for_trial_eval(study_dir: Path, min_step: int, timeout_s: float = 240):
    """The first MLflow trial run of the study in ``study_dir`` that has logged ``eval/modes``
    at a step >= ``min_step`` and recorded where it runs (``placements`` tag), as
    ``(run, last eval step)``; None after ``timeout_s``."""
    from mlflow import MlflowClient

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            state = json.loads((Path(study_dir) / "study_state.json").read_text())
            client = MlflowClient(state["tracking_uri"])
            for run in client.search_runs([state["experiment_id"]], "tags.kind = 'trial'"):
                steps = [m.step for m in client.get_metric_history(run.info.run_id, "eval/modes")]
                if run.data.tags.get("placements") and max(steps, default=0) >= min_step:
                    return run, max(steps)
        except Exception:  # the study or its run is not there yet
            pass
        time.sleep(0.2)
    return None


def latest_placement(run) -> dict:
    """Where the trial of an MLflow run (re)started last: node id, host, pid, GPU ids, device."""
    return json.loads(run.data.tags["placements"])[-1]
