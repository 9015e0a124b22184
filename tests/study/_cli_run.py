"""Run a study file with the real CLI in a subprocess (``study run``) and open what it recorded."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_study_file(tmp_path: Path, name: str, text: str, timeout: int = 400):
    """Write ``<name>.toml`` (a study called ``name`` stored under ``studies/``), run it to the end
    and return (printed output, study_state.json, MlflowClient, the trials' MLflow runs)."""
    from mlflow import MlflowClient

    (tmp_path / f"{name}.toml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-m", "study.cli", "run", f"{name}.toml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    state = json.loads((tmp_path / "studies" / name / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]], f"tags.`mlflow.parentRunId` = '{state['parent_run_id']}'")
    return out, state, client, runs
