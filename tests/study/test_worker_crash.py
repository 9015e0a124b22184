"""A trial whose worker process is SIGKILLed mid-run is retried from its last checkpoint, in the
same MLflow run, and ends like an uninterrupted trial (issue 6, item 2)."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from _fault_polling import latest_placement, wait_for_trial_eval

pytestmark = pytest.mark.slow


def test_killed_worker_is_retried_from_its_checkpoint(tmp_path, monkeypatch):
    import ray
    from mlflow import MlflowClient

    from study.study_file import parse_study
    from study.lifecycle import run_study

    monkeypatch.chdir(tmp_path)
    study = parse_study({
        "name": "crash", "gans": ["mbgan"], "storage_path": str(tmp_path / "studies"),
        "dataset": {"name": "ring8"}, "budget": {"max_steps": 300, "eval_every": 50},
        "run": {"eval": {"num_samples": 500}}, "scheduler": {"type": "none"},
        "search": {"grid": {"hparams.alpha": [1.0]}}, "max_failures": 1,
        "mlflow": {"register_model": False}})
    killed: dict = {}

    def killer():
        found = wait_for_trial_eval(study.study_dir, 100)
        if found:
            run, after = found
            os.kill(int(latest_placement(run)["pid"]), signal.SIGKILL)
            killed.update(run_id=run.info.run_id, after=after)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        run_study(study)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    thread.join(timeout=5)
    assert killed, "the worker was never killed (trial too fast?)"
    state = json.loads((study.study_dir / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]], "tags.kind = 'trial'")
    assert len(runs) == 1 and runs[0].info.run_id == killed["run_id"]  # one run, not two
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["stop_reason"] == "completed"
    assert run.data.tags["restarts"] == "1"
    places = json.loads(run.data.tags["placements"])
    assert len(places) == 2 and places[0]["step"] == 0
    assert 0 < places[1]["step"] <= killed["after"]  # resumed from a checkpoint, not from 0
    assert int(run.data.tags["resumed_from_step"]) == places[1]["step"]
    steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "eval/modes"))
    assert steps == [0, 50, 100, 150, 200, 250, 300]  # none missing, none twice
    loss_steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss/d")]
    assert sorted(loss_steps) == list(range(1, 301))  # every step once
