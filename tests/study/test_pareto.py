"""Pareto searches (``search.metrics``): the study file's checks, the front against a loop
reference, and a small two-GAN study whose Optuna studies are multi-objective and whose fronts
(leaderboard, parent run) agree with Optuna's own ``best_trials``."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from study.pareto import front_indices
from study.study_file import StudyError, parse_study

ROOT = Path(__file__).resolve().parents[2]
METRICS = ["eval/precision", "eval/recall"]


def _doc(search=None, **extra) -> dict:
    doc = {"name": "p", "gans": ["tripletgan"], "run": {"steps": 100, "data": {"name": "ring8"},
                                                         "eval": {"every": 20}},
           "search": {"metrics": METRICS, **(search or {})}}
    doc.update(extra)
    return doc


def _front_reference(points, modes):
    """Loop reference: a point is on the front unless some other point is no worse on every
    objective and strictly better on at least one."""
    out = []
    for i, p in enumerate(points):
        beaten = False
        for j, q in enumerate(points):
            if i == j:
                continue
            no_worse, better = True, False
            for k, mode in enumerate(modes):
                if (q[k] < p[k]) if mode == "max" else (q[k] > p[k]):
                    no_worse = False
                if (q[k] > p[k]) if mode == "max" else (q[k] < p[k]):
                    better = True
            beaten = beaten or (no_worse and better)
        if not beaten:
            out.append(i)
    return out


@pytest.mark.parametrize("modes", [["max", "max"], ["min", "max"], ["min", "min", "max"]])
def test_front_matches_the_loop_reference(modes):
    rng = random.Random(len(modes) * 7 + (modes[0] == "min"))
    for _ in range(200):
        n = rng.randint(1, 12)
        points = [[rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in modes] for _ in range(n)]  # ties included
        assert front_indices(points, modes) == _front_reference(points, modes)
    assert front_indices([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.4, 0.4]], ["max", "max"]) == [0, 1, 2]


def test_objectives_of_a_pareto_search():
    study = parse_study(_doc())
    assert study.pareto and study.objective == ("eval/precision", "max")
    assert study.objectives == [("eval/precision", "max"), ("eval/recall", "max")]
    mixed = parse_study(_doc({"metrics": ["eval/kl", "eval/recall"]}))
    assert mixed.objectives == [("eval/kl", "min"), ("eval/recall", "max")]
    assert not parse_study(_doc({"metrics": None})).pareto


@pytest.mark.parametrize(("doc", "needle"), [
    (_doc({"metrics": ["eval/precision"]}), "search.metrics"),
    (_doc({"metrics": ["eval/recall", "eval/recall"]}), "search.metrics"),
    (_doc({"metrics": ["eval/precision", "eval/fid"]}), "search.metrics: 'eval/fid'"),
    (_doc({"metric": "eval/fit"}), "search.metric:"),
    (_doc(scheduler={"type": "pbt"}), "scheduler.type = 'pbt'"),
    (_doc(run={"steps": 100, "data": {"name": "ring8"}, "eval": {"every": 20, "prc": False}}), "run.eval.prc"),
])
def test_bad_pareto_settings_are_one_line_errors(doc, needle):
    with pytest.raises(StudyError) as info:
        parse_study(doc)
    assert needle in str(info.value) and "\n" not in str(info.value)


STUDY = """
name = "pareto"
gans = ["mbgan", "gngan"]
max_concurrent = 2
[run]
steps = 90
[run.data]
name = "ring8"
[run.net]
arch = "toy_triplet"
[run.eval]
every = 30
num_samples = 500
[search]
samples_per_gan = 4
seed = 0
metrics = ["eval/precision", "eval/recall"]
[scheduler]
type = "asha"
grace_period = 30
reduction_factor = 2
[mlflow]
register_model = false
"""


@pytest.mark.slow
def test_pareto_study_fronts_agree_with_optuna(tmp_path):
    """Each GAN's Optuna study has two objectives; every trial is told the last values its MLflow
    run logged (ASHA-stopped ones too, as COMPLETE); the study's front per GAN is Optuna's
    ``best_trials``; the leaderboard section and ``pareto_front.png`` are on the parent run."""
    import optuna
    from mlflow import MlflowClient

    (tmp_path / "pareto.toml").write_text(STUDY)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "study.cli", "run", "pareto.toml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Pareto front of each GAN over eval/precision, eval/recall" in out
    study_dir = tmp_path / "studies" / "pareto"
    state = json.loads((study_dir / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]],
                              filter_string=f"tags.`mlflow.parentRunId` = '{state['parent_run_id']}'")
    assert len(runs) == 8
    storage = f"sqlite:///{study_dir}/optuna.db"
    board = (study_dir / "leaderboard.md").read_text()
    stopped_early = 0
    for gan in ("mbgan", "gngan"):
        searched = optuna.load_study(study_name=f"pareto-{gan}", storage=storage)
        assert [d.name for d in searched.directions] == ["MAXIMIZE", "MAXIMIZE"]
        trials = searched.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        assert len(trials) == 4
        mine = [r for r in runs if r.data.tags["gan"] == gan]

        def values_of(params):
            [run] = [r for r in mine if json.loads(r.data.tags["searched"]) == params]
            return [run.data.metrics[m] for m in METRICS], run

        for t in trials:
            values, run = values_of(t.params)
            assert t.values == pytest.approx(values)  # the last evaluation, what OptunaSearch told
            stopped_early += run.data.tags.get("stop_reason") == "early_stopped"
        optuna_front = sorted(values_of(t.params)[1].info.run_name for t in searched.best_trials)
        rows = [line for line in board.splitlines() if line.startswith(f"| {gan} | ")]
        ours = sorted(line.split(" | ")[1] for line in rows if "#" in line.split(" | ")[1])
        assert ours == optuna_front
    assert stopped_early >= 1  # ASHA stopped some, and Optuna still counts them as complete
    artifacts = {a.path for a in client.list_artifacts(state["parent_run_id"])}
    assert {"pareto_front.png", "leaderboard.md"} <= artifacts
    assert "## Pareto front" in client.get_run(state["parent_run_id"]).data.tags["mlflow.note.content"]


@pytest.mark.slow
def test_diverged_trials_of_a_pareto_search_tell_optuna_every_worst_value(tmp_path, monkeypatch):
    """A loss bound no step can meet: every trial diverges at once; Optuna still gets one finite
    worst value per objective (no trial left RUNNING), and the study finishes with no front."""
    import optuna
    import ray

    from study.lifecycle import run_study

    monkeypatch.chdir(tmp_path)
    study = parse_study({
        "name": "pdiv", "gans": ["nsgan"], "storage_path": str(tmp_path / "studies"), "max_concurrent": 2,
        "run": {"steps": 20, "data": {"name": "ring8"}, "eval": {"every": 10, "num_samples": 200},
                "optim": {"loss_bound": 1e-9}},
        "search": {"samples_per_gan": 2, "metrics": ["eval/kl", "eval/recall"]}, "scheduler": {"type": "none"},
        "mlflow": {"register_model": False}})
    try:
        run_study(study)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    searched = optuna.load_study(study_name="pdiv-nsgan", storage=study.optuna_storage)
    trials = searched.get_trials()
    assert len(trials) == 2
    assert all(t.state == optuna.trial.TrialState.COMPLETE and t.values == [1e6, -1.0] for t in trials)
    assert "Pareto front" not in (study.study_dir / "leaderboard.md").read_text()
