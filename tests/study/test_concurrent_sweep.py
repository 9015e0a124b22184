"""All GANs of a study share the cluster at once (issue 13, item 1): with two trial slots and
no `max_concurrent`, the study runs two trials at a time, trials of different GANs overlap in
time, and each GAN keeps its own number of trials and its own Optuna study."""

from __future__ import annotations

import itertools
import json

import pytest

pytestmark = pytest.mark.slow

GANS = ("mbgan", "nsgan", "gngan")  # 2 slots, 3 GANs: every GAN's trials must share them


def test_trials_of_different_gans_overlap_under_one_budget(tmp_path, monkeypatch, capsys):
    import optuna
    import ray
    from mlflow import MlflowClient

    from study.lifecycle import run_study
    from study.study_file import parse_study

    monkeypatch.chdir(tmp_path)
    study = parse_study({
        "name": "cc", "gans": list(GANS), "storage_path": str(tmp_path / "studies"),
        "run": {"steps": 60, "data": {"name": "ring8"}, "eval": {"every": 30, "num_samples": 500},
                "net": {"arch": "toy_triplet"}},  # small nets: scheduling, not quality
        "search": {"samples_per_gan": 2, "sampler": "random"}, "scheduler": {"type": "none"}})
    assert study.max_concurrent is None  # default: what the cluster holds
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        rows = run_study(study)
    finally:
        ray.shutdown()
    assert "6 trials (mbgan 2, nsgan 2, gngan 2), 2 at once" in capsys.readouterr().out
    state = json.loads((study.study_dir / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    runs = [r for r in client.search_runs([state["experiment_id"]]) if r.data.tags.get("kind") == "trial"]
    assert sorted(r.data.tags["gan"] for r in runs) == sorted(GANS * 2)
    spans = [(r.data.tags["gan"], r.info.start_time, r.info.end_time) for r in runs]
    # two trials of different GANs ran at the same time
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a, b in itertools.combinations(spans, 2))
    # never more than the two slots at once
    events = sorted([(s, 1) for _, s, _ in spans] + [(e, -1) for _, _, e in spans], key=lambda x: (x[0], x[1]))
    assert max(itertools.accumulate(d for _, d in events)) <= 2
    for gan in GANS:
        trials = optuna.load_study(study_name=f"cc-{gan}", storage=f"sqlite:///{study.study_dir}/optuna.db").trials
        assert len(trials) == 2 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert {r["gan"] for r in rows} == set(GANS) and all(r["trials"] == 2 for r in rows)
