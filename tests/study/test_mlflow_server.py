"""A study against a real ``mlflow server`` (issue 5, MLflow server mode).

The test starts ``mlflow server`` on 127.0.0.1 and a free port (sqlite backend, artifacts proxied
by the server into a local ``--artifacts-destination`` folder), runs a tiny study in this process
with ``mlflow.tracking_uri = "http://127.0.0.1:<port>"`` (one GAN, 2 trials of 40 steps, local Ray
started and shut down by the study), then checks over HTTP only: the parent and child runs, their
metric curves, and that samples, ``best.pt`` and the leaderboard can be listed and downloaded; and
on disk that the artifacts really landed in the server's destination folder. The server's
process group is stopped at the end and must leave no process behind.

Run: ``python -m pytest -q tests/study/test_mlflow_server.py``
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from _servers import group_members, healthy, start_mlflow_server, stop_group

pytestmark = pytest.mark.slow

GAN = "tripletgan"  # one metric-learning GAN, fast on the toy nets
TRIALS = 2  # children expected under the parent run
MAX_STEPS, EVAL_EVERY = 40, 20  # budget: evaluations at 0, 20 and 40


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A running ``mlflow server``: yields (url, artifacts folder, process); stopped afterwards."""
    root = tmp_path_factory.mktemp("mlflow_server")
    server = start_mlflow_server(root, f"sqlite:///{root / 'server.db'}")
    try:
        yield server
    finally:
        stop_group(server["proc"])


@pytest.fixture(scope="module")
def study_result(mlflow_server, tmp_path_factory):
    """Run the study against the server; returns (study, leaderboard rows, state)."""
    import ray

    from study.study_file import parse_study
    from study.lifecycle import run_study
    from study.state import read_state

    work = tmp_path_factory.mktemp("server_study")
    study = parse_study({
        "name": "server",
        "gans": [GAN],
        "storage_path": str(work / "studies"),
        "max_concurrent": 2,
        "dataset": {"name": "ring8"},
        "run": {"eval": {"num_samples": 500}},
        "budget": {"max_steps": MAX_STEPS, "eval_every": EVAL_EVERY},
        "search": {"samples_per_gan": TRIALS, "seed": 0},
        "scheduler": {"type": "none"},
        "resources": {"cpu": 1},
        "mlflow": {"tracking_uri": mlflow_server["url"], "register_model": True},
    })
    try:
        rows = run_study(study)
    finally:
        ray.shutdown()  # no-op when the study already shut down the Ray it started
    return study, rows, read_state(study.study_dir)


@pytest.fixture(scope="module")
def runs(mlflow_server, study_result):
    from mlflow import MlflowClient

    _, _, state = study_result
    client = MlflowClient(mlflow_server["url"])
    return client, client.search_runs([state["experiment_id"]], max_results=100)


def test_study_state_points_at_the_server(mlflow_server, study_result):
    study, rows, state = study_result
    assert state["status"] == "done" and state["tracking_uri"] == mlflow_server["url"]
    assert not (study.study_dir / "mlruns").exists()  # no local artifact store beside the study
    assert rows and rows[0]["gan"] == GAN


def test_parent_and_children_finished_with_curves(runs, study_result):
    from trainables.metric_names import LOSS_D
    from trainables.train import eval_steps

    client, found = runs
    _, _, state = study_result
    parents = [r for r in found if r.data.tags.get("kind") == "study"]
    assert len(parents) == 1 and parents[0].info.run_id == state["parent_run_id"]
    assert parents[0].info.status == "FINISHED"
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == state["parent_run_id"]]
    assert len(children) == len(found) - 1 == TRIALS
    assert {r.info.status for r in children} == {"FINISHED"}
    assert len({r.data.tags["trial_id"] for r in children}) == TRIALS
    expected = eval_steps(0, MAX_STEPS, EVAL_EVERY)
    assert {EVAL_EVERY, MAX_STEPS} <= set(expected)
    for run in children:
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "eval/modes")]
        assert sorted(steps) == expected, (run.info.run_name, steps)  # each once, none twice
        losses = collections.Counter(m.step for m in client.get_metric_history(run.info.run_id, LOSS_D))
        assert sorted(losses) == list(range(1, MAX_STEPS + 1)) and set(losses.values()) == {1}
        assert run.data.tags["stop_reason"] == "completed"


def test_artifacts_over_http_and_on_the_servers_disk(mlflow_server, runs, study_result, tmp_path):
    import mlflow

    from trainables.checkpoint import load_checkpoint
    from trainables.train import eval_steps

    client, found = runs
    _, rows, state = study_result
    url, dest = mlflow_server["url"], mlflow_server["artifacts"]
    experiment = client.get_experiment(state["experiment_id"])
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # proxied by the server
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == state["parent_run_id"]]
    for run in children:
        run_id = run.info.run_id
        samples = [a.path for a in client.list_artifacts(run_id, "samples")]
        assert len(samples) == len(eval_steps(0, MAX_STEPS, EVAL_EVERY))
        assert all(p.startswith("samples/") and p.endswith(".png") for p in samples)
        assert [a.path for a in client.list_artifacts(run_id, "checkpoints")] == ["checkpoints/best.pt"]
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoints/best.pt",
                                                    tracking_uri=url, dst_path=str(tmp_path / run_id))
        data = load_checkpoint(local)
        # no scheduler: rank_after = 1, so the untrained step 0 never becomes best.pt
        curve = [m for m in client.get_metric_history(run_id, "eval/fit") if m.step >= 1]
        top = max(m.value for m in curve)
        first_top = min(m.step for m in curve if m.value == top)  # "is best" is strict
        assert data["config"]["gan"] == GAN and data["step"] == first_top
        assert data["best"]["eval/fit"] == top
        if run_id == rows[0]["run_id"]:
            assert data["step"] == rows[0]["step"]  # the leaderboard's step is the saved one
        on_disk = list(dest.rglob(f"{run_id}/**/checkpoints/best.pt"))
        assert len(on_disk) == 1 and on_disk[0].read_bytes() == Path(local).read_bytes()
        assert len(list(dest.rglob(f"{run_id}/**/samples/*.png"))) == len(samples)
    parent = state["parent_run_id"]
    assert "leaderboard.md" in {a.path for a in client.list_artifacts(parent)}
    board = mlflow.artifacts.download_artifacts(run_id=parent, artifact_path="leaderboard.md",
                                                tracking_uri=url, dst_path=str(tmp_path / "parent"))
    assert GAN in Path(board).read_text()
    assert list(dest.rglob(f"{parent}/**/leaderboard.md"))


def test_best_generator_registered_on_the_server(runs, study_result):
    client, _ = runs
    study, rows, state = study_result
    version = client.get_model_version(study.name, str(state["registered_model"]["version"]))
    assert version.run_id == rows[0]["run_id"]


def test_server_stops_and_leaves_no_process(mlflow_server, study_result):
    import ray

    assert ray.is_initialized() is False  # the study shut down the Ray it started
    proc = mlflow_server["proc"]
    stop_group(proc)
    assert proc.poll() is not None
    assert group_members(proc.pid) == []
    assert not healthy(mlflow_server["url"])
