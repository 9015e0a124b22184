"""Multi-node Ray on one machine (``ray.cluster_utils.Cluster``): 2 nodes with 1 logical GPU
each, a study of 4 trials asking ``gpu = 0.5``. No real GPU is needed to test the scheduling:
trials fall back to CPU but see the GPU ids Ray assigned them."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 1,
                                                       "include_dashboard": False})
    c.add_node(num_cpus=2, num_gpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, include_dashboard=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def _doc(tmp_path, **extra) -> dict:
    doc = {"name": "multi", "gans": ["mbgan"], "storage_path": str(tmp_path / "studies"),
           "dataset": {"name": "ring8"}, "budget": {"max_steps": 20, "eval_every": 10},
           "run": {"eval": {"num_samples": 300}}, "scheduler": {"type": "none"},
           "search": {"grid": {"hparams.alpha": [0.5, 1.0, 2.0, 4.0]}}, "max_concurrent": 4,
           "resources": {"cpu": 1, "gpu": 0.5}, "mlflow": {"register_model": False}}
    doc.update(extra)
    return doc


def test_four_half_gpu_trials_run_at_once_on_both_nodes(cluster, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from study.study_file import parse_study
    from study.lifecycle import run_study

    monkeypatch.chdir(tmp_path)
    study = parse_study(_doc(tmp_path, ray_address=cluster.address))
    run_study(study)
    state = json.loads((study.study_dir / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    runs = [r for r in client.search_runs([state["experiment_id"]]) if r.data.tags.get("kind") == "trial"]
    assert len(runs) == 4 and all(r.info.status == "FINISHED" for r in runs)
    places = [json.loads(r.data.tags["placements"])[-1] for r in runs]
    assert len({p["node_id"] for p in places}) == 2  # both nodes used
    assert all(len(p["gpu_ids"]) == 1 for p in places)  # each trial saw the GPU Ray assigned
    assert all(p["cuda_visible_devices"] == p["gpu_ids"][0] for p in places)
    assert all(p["device"] == "cpu" for p in places)  # no real CUDA here: CPU fallback
    # all four ran at the same time: the last start precedes the first end
    assert max(r.info.start_time for r in runs) < min(r.info.end_time for r in runs)
    # results and checkpoints are under the one storage path
    trials = [p for p in (study.study_dir / "sweep").iterdir() if p.is_dir()]
    assert len(trials) == 4 and all(list(t.glob("checkpoint_*")) for t in trials)


def test_more_gpus_than_any_node_fails_before_submission(cluster, tmp_path, monkeypatch):
    from study.study_file import StudyError, parse_study
    from study.lifecycle import run_study

    monkeypatch.chdir(tmp_path)
    study = parse_study(_doc(tmp_path, name="toobig", ray_address=cluster.address,
                             resources={"cpu": 1, "gpu": 2}))
    with pytest.raises(StudyError) as info:
        run_study(study)
    message = str(info.value)
    assert "resources" in message and "GPU 1" in message and "\n" not in message
    assert not (study.study_dir / "study_state.json").exists()  # nothing submitted or created


def test_local_address_starts_its_own_cluster_beside_a_running_one(cluster):
    """``ray_address = "local"`` never joins another cluster of the machine (a bare ``ray.init()``
    joins the last head started like ``ray start``, as this module's ``Cluster`` is: a study would
    then lose its trials when that cluster's nodes go away)."""
    import ray

    from study.cluster import init_ray

    ray.shutdown()  # leave the module's cluster running, unconnected
    try:
        assert init_ray("local") is True
        assert ray.get_runtime_context().gcs_address != cluster.address
        assert ray.cluster_resources().get("GPU", 0) == 0  # not the 2-GPU cluster
    finally:
        ray.shutdown()
        ray.init(address=cluster.address, include_dashboard=False)  # the module's tests go on
