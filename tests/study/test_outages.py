"""Tracking-store outages during a study (issue 33, item 2).

What absorbs them is MLflow's own client, bounded: over HTTP every request is retried
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` = 7 times with exponential backoff (factor 2: about 4 minutes
in all), and a sqlite store waits ``busy_timeout`` = 20 s for a lock. The trial's loss buffer
(``TrialTracker``) holds its points meanwhile; a retried ``log_batch`` resends the same points
(same timestamps); the tests check that every point is there once.

- ``mlflow server`` SIGKILLed while trials log, restarted on the same port and store after
  ``DOWN_S`` seconds: the study finishes and every trial's evaluations, losses and samples are in
  MLflow exactly once, without a trial restart.
- The study's sqlite store locked by another writer (an exclusive transaction held ``LOCK_S``
  seconds) while trials log: the same.
- The server SIGKILLed and left down past the retry bound (shrunk for the test): the study stops
  with :class:`~study.sweep.TrackingStoreDown` (one line naming the store and ``study resume``),
  and ``study resume`` after a restart finishes it: every point once, Optuna told every result.

Run: ``python -m pytest -q tests/study/test_outages.py``
"""

from __future__ import annotations

import collections
import sqlite3
import threading
import time

import pytest
from _fault_polling import wait_for_trial_eval
from _servers import free_port, start_mlflow_server, stop_group

pytestmark = pytest.mark.slow

TRIALS, MAX_STEPS, EVAL_EVERY = 2, 120, 20
DOWN_S = 10  # the server is away this long (SIGKILL to restart)
LOCK_S = 10  # another writer holds the sqlite store this long


def _study(tmp_path, name: str, tracking_uri: str | None):
    from study.study_file import parse_study

    return parse_study({
        "name": name, "gans": ["tripletgan"], "storage_path": str(tmp_path / "studies"), "max_concurrent": TRIALS,
        "run": {"steps": MAX_STEPS, "data": {"name": "ring8"}, "net": {"arch": "toy_triplet"},
                "eval": {"every": EVAL_EVERY, "num_samples": 300}},
        "search": {"samples_per_gan": TRIALS, "sampler": "random"}, "scheduler": {"type": "none"},
        "mlflow": {"register_model": False, **({"tracking_uri": tracking_uri} if tracking_uri else {})}})


def _run_with_fault(study, fault) -> tuple[list, dict]:
    """Run ``study`` here while ``fault(study_dir)`` runs in a thread once a trial has logged its
    evaluation at step 40; returns (leaderboard rows, what the fault recorded)."""
    import ray

    from study.lifecycle import run_study

    seen: dict = {}

    def inject():
        if wait_for_trial_eval(study.study_dir, 2 * EVAL_EVERY) is not None:
            seen.update(fault(study.study_dir) or {})

    thread = threading.Thread(target=inject, daemon=True)
    thread.start()
    try:
        rows = run_study(study)
    finally:
        ray.shutdown()
        thread.join(timeout=120)
    assert seen.get("done"), "the fault was never injected (no evaluation at step 40 seen)"
    return rows, seen


def _assert_every_point_once(uri: str, study, fault: dict, restarts: bool = False) -> None:
    from mlflow import MlflowClient

    from study.state import read_state
    from study.tracking import TAG_RESTARTS, children
    from trainables.metric_names import LOSS_D
    from trainables.train import eval_steps

    state = read_state(study.study_dir)
    assert state["status"] == "done"
    client = MlflowClient(uri)
    runs = children(uri, state["experiment_id"], state["parent_run_id"])
    assert len(runs) == TRIALS and {r.info.status for r in runs} == {"FINISHED"}
    # some trial trained (and flushed losses every 50 steps) through the whole fault
    assert any(r.info.start_time / 1e3 < fault["start"] and r.info.end_time / 1e3 > fault["end"] for r in runs)
    assert restarts or all(TAG_RESTARTS not in r.data.tags for r in runs)  # else the outage cost waiting only
    expected = eval_steps(0, MAX_STEPS, EVAL_EVERY)
    for run in runs:
        run_id = run.info.run_id
        assert sorted(m.step for m in client.get_metric_history(run_id, "eval/fit")) == expected
        losses = collections.Counter(m.step for m in client.get_metric_history(run_id, LOSS_D))
        assert sorted(losses) == list(range(1, MAX_STEPS + 1)) and set(losses.values()) == {1}
        assert len(client.list_artifacts(run_id, "samples")) == len(expected)


def test_server_killed_and_restarted_mid_study(tmp_path):
    root = tmp_path / "server"
    root.mkdir()
    backend, port = f"sqlite:///{root / 'server.db'}", free_port()
    server = {"now": start_mlflow_server(root, backend, port)}

    def kill_and_restart(_study_dir):
        start = time.time()
        stop_group(server["now"]["proc"], 9)  # SIGKILL: no graceful shutdown
        time.sleep(DOWN_S)
        server["now"] = start_mlflow_server(root, backend, port)
        return {"done": True, "start": start, "end": time.time()}

    try:
        study = _study(tmp_path, "outage", server["now"]["url"])
        rows, fault = _run_with_fault(study, kill_and_restart)
        assert rows
        _assert_every_point_once(server["now"]["url"], study, fault)
    finally:
        stop_group(server["now"]["proc"])


def test_sqlite_store_locked_by_another_writer(tmp_path):
    study = _study(tmp_path, "locked", None)

    def lock(study_dir):
        conn = sqlite3.connect(study_dir / "mlflow.db", timeout=60, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")  # no other connection reads or writes until COMMIT
        start = time.time()
        time.sleep(LOCK_S)
        conn.execute("COMMIT")
        conn.close()
        return {"done": True, "start": start, "end": time.time()}

    rows, fault = _run_with_fault(study, lock)
    assert rows
    _assert_every_point_once(study.tracking_uri, study, fault)


BEYOND_RETRIES, BEYOND_BACKOFF = 2, 1  # MLflow's retry bound shrunk to a few seconds for the test


def test_server_down_beyond_the_retry_bound_then_study_resume(tmp_path, monkeypatch):
    """The server SIGKILLed and kept down past MLflow's retry bound (shrunk here with
    MLFLOW_HTTP_REQUEST_MAX_RETRIES / _BACKOFF_FACTOR): the study stops with a one-line error
    naming the server and ``study resume``; started again on the same store, ``study resume``
    finishes every trial with each evaluation, loss step and sample in MLflow once."""
    import optuna
    import ray

    from study.lifecycle import TrackingStoreDown, resume_study, run_study
    from study.state import read_state

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(BEYOND_RETRIES))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", str(BEYOND_BACKOFF))
    root = tmp_path / "server"
    root.mkdir()
    backend, port = f"sqlite:///{root / 'server.db'}", free_port()
    server = {"now": start_mlflow_server(root, backend, port)}
    seen: dict = {}

    def kill(study_dir):
        if wait_for_trial_eval(study_dir, 2 * EVAL_EVERY) is not None:
            seen["start"] = time.time()
            stop_group(server["now"]["proc"], 9)

    try:
        study = _study(tmp_path, "beyond", server["now"]["url"])
        thread = threading.Thread(target=kill, args=(study.study_dir,), daemon=True)
        thread.start()
        try:
            with pytest.raises(TrackingStoreDown) as info:
                run_study(study)
        finally:
            ray.shutdown()
            thread.join(timeout=120)
        assert "start" in seen
        message = str(info.value)
        assert "\n" not in message and server["now"]["url"] in message
        assert f"study resume {study.study_dir.resolve()}" in message
        assert read_state(study.study_dir)["status"] == "failed"
        server["now"] = start_mlflow_server(root, backend, port)
        seen["end"] = time.time()
        try:
            rows = resume_study(study.study_dir)
        finally:
            ray.shutdown()
        assert rows
        _assert_every_point_once(server["now"]["url"], study, seen, restarts=True)
        # Optuna knows each trial's result, also of those told FAIL while the server was down
        from mlflow import MlflowClient

        client = MlflowClient(server["now"]["url"])
        state = read_state(study.study_dir)
        finals = sorted(client.get_run(r.info.run_id).data.metrics["eval/fit"]
                        for r in client.search_runs([state["experiment_id"]], "tags.kind = 'trial'"))
        searched = optuna.load_study(study_name="beyond-tripletgan", storage=study.optuna_storage)
        complete = searched.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        assert sorted(t.value for t in complete) == pytest.approx(finals)
    finally:
        stop_group(server["now"]["proc"])
