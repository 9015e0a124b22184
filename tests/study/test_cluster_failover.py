"""A trial whose node dies is restored on another node from its checkpoint and continues from
the saved step (issue 5). Multi-node Ray on one machine: a head without GPUs and two workers
with 1 logical GPU each; the trial asks for 1 GPU, so it lands on a worker; the test removes
that worker's node mid-run, and the retry can only go to the other worker."""

from __future__ import annotations

import json
import threading

import pytest

from _fault_polling import latest_placement, wait_for_trial_eval

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0,
                                                       "include_dashboard": False})
    workers = [c.add_node(num_cpus=1, num_gpus=1) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address, include_dashboard=False)
    try:
        yield c, workers
    finally:
        ray.shutdown()
        c.shutdown()


def test_trial_on_a_lost_node_resumes_on_the_other_node(cluster, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from study.study_file import parse_study
    from study.lifecycle import run_study

    c, workers = cluster
    monkeypatch.chdir(tmp_path)
    study = parse_study({
        "name": "failover", "gans": ["mbgan"], "storage_path": str(tmp_path / "studies"),
        "ray_address": c.address, "dataset": {"name": "ring8"},
        "budget": {"max_steps": 300, "eval_every": 50}, "run": {"eval": {"num_samples": 300}},
        "scheduler": {"type": "none"}, "search": {"grid": {"hparams.alpha": [1.0]}},
        "max_failures": 2, "resources": {"cpu": 1, "gpu": 1}, "mlflow": {"register_model": False}})
    lost: dict = {}

    def remove_the_trials_node():
        found = wait_for_trial_eval(study.study_dir, 100)
        if found:
            run, after = found
            node = latest_placement(run)["node_id"]
            lost.update(node=node, after=after, run_id=run.info.run_id)
            c.remove_node(next(w for w in workers if w.node_id == node), allow_graceful=False)

    thread = threading.Thread(target=remove_the_trials_node, daemon=True)
    thread.start()
    run_study(study)
    thread.join(timeout=5)
    assert lost, "the trial's node was never removed (trial too fast?)"
    state = json.loads((study.study_dir / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]], "tags.kind = 'trial'")
    assert len(runs) == 1 and runs[0].info.run_id == lost["run_id"]  # one run across both nodes
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["stop_reason"] == "completed"
    places = json.loads(run.data.tags["placements"])
    assert places[0]["node_id"] == lost["node"] and places[0]["step"] == 0
    assert places[-1]["node_id"] != lost["node"]  # restored on the other worker
    assert places[-1]["node_id"] in {w.node_id for w in workers}
    assert 0 < places[-1]["step"] <= lost["after"]  # from the saved step, not from 0
    assert places[-1]["step"] % 50 == 0  # a checkpoint's step (one per evaluation)
    assert int(run.data.tags["resumed_from_step"]) == places[-1]["step"]
    steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "eval/modes"))
    assert steps == [0, 50, 100, 150, 200, 250, 300]
