"""Team-scale stores (issue 33, item 1): a real PostgreSQL server behind ``mlflow server`` and
Optuna, written by two studies at the same time.

The module starts a throwaway PostgreSQL cluster (``_servers.postgres_server``; Debian's
``postgresql`` package, which ``.ci/run`` installs) with two databases, ``mlflow`` (the backend
store of an ``mlflow server`` on 127.0.0.1) and ``optuna`` (``search.storage`` of both studies).
Study ``pg_wide`` runs 8 trials at once in this process (simulated slots: ``resources.cpu =
0.25`` on a local Ray of 2 CPUs) while study ``pg_side`` (2 GANs x 2 trials) runs through the CLI
in a subprocess with its own Ray, both into the same server and the same Optuna database. Then
every run, metric step and artifact must be there exactly once, over HTTP only.

Run: ``python -m pytest -q tests/study/test_postgres.py`` (skipped without PostgreSQL's programs)
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _servers import postgres_bin, postgres_server, start_mlflow_server, stop_group

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL's server programs are not installed "
                                                                 "(apt-get install postgresql; .ci/run does)")]

ROOT = Path(__file__).resolve().parents[2]
MAX_STEPS, EVAL_EVERY = 40, 20
WIDE = {"gans": ["tripletgan"], "trials": 8}  # 8 trials at once
SIDE = {"gans": ["mbgan", "gngan"], "trials": 2}
PASSWORD = "not-for-mlflow"  # must never be written anywhere: a password in search.storage is refused


def _doc(name: str, plan: dict, storage: Path, optuna_url: str, tracking: str) -> dict:
    return {"name": name, "gans": plan["gans"], "storage_path": str(storage), "max_concurrent": plan["trials"] * len(plan["gans"]),
            "run": {"steps": MAX_STEPS, "data": {"name": "ring8"}, "net": {"arch": "toy_triplet"},
                    "eval": {"every": EVAL_EVERY, "num_samples": 300}},
            "search": {"samples_per_gan": plan["trials"], "sampler": "random", "storage": optuna_url},
            "scheduler": {"type": "none"}, "resources": {"cpu": 0.25},
            "mlflow": {"tracking_uri": tracking, "register_model": False}}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("pg_stores")
    with postgres_server(("mlflow", "optuna")) as pg:
        server = start_mlflow_server(root, pg["url"]("mlflow"))
        try:
            yield {"pg": pg, "server": server, "root": root}
        finally:
            stop_group(server["proc"])


@pytest.fixture(scope="module")
def two_studies(stores):
    """Run ``pg_side`` (CLI subprocess) and ``pg_wide`` (this process) at the same time."""
    import ray
    import yaml

    from study.lifecycle import run_study
    from study.state import read_state
    from study.study_file import parse_study

    root, url, pg = stores["root"], stores["server"]["url"], stores["pg"]
    side_doc = _doc("pg_side", SIDE, root / "side", pg["url"]("optuna"), url)
    (root / "side.yaml").write_text(yaml.safe_dump(side_doc))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    log = root / "side.log"  # a file, not a pipe: a full pipe would stall the study
    with open(log, "w") as sink:
        side = subprocess.Popen([sys.executable, "-m", "study.cli", "run", "side.yaml"], cwd=root, env=env,
                                stdout=sink, stderr=subprocess.STDOUT)
    wide = parse_study(_doc("pg_wide", WIDE, root / "wide", pg["url"]("optuna"), url))
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        rows = run_study(wide)
    finally:
        ray.shutdown()
        side.wait(timeout=900)
    out = log.read_text()
    assert side.returncode == 0, out[-3000:]
    side_study = parse_study(side_doc)
    return {"wide": (wide, rows, read_state(wide.study_dir)),
            "side": (side_study, json.loads((side_study.study_dir / "leaderboard.json").read_text()),
                     read_state(side_study.study_dir)), "side_out": out}


@pytest.mark.parametrize("name,plan", [("wide", WIDE), ("side", SIDE)])
def test_every_run_metric_step_and_artifact_once(stores, two_studies, name, plan):
    from mlflow import MlflowClient

    from study.tracking import TAG_GAN, TAG_TRIAL_ID, children
    from trainables.metric_names import LOSS_D
    from trainables.train import eval_steps

    study, rows, state = two_studies[name]
    client = MlflowClient(stores["server"]["url"])
    assert state["tracking_uri"] == stores["server"]["url"] and state["status"] == "done"
    runs = children(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])
    assert collections.Counter(r.data.tags[TAG_GAN] for r in runs) == {g: plan["trials"] for g in plan["gans"]}
    assert len({r.data.tags[TAG_TRIAL_ID] for r in runs}) == len(runs)
    assert {r.info.status for r in runs} == {"FINISHED"}
    expected = eval_steps(0, MAX_STEPS, EVAL_EVERY)
    for run in runs:
        run_id = run.info.run_id
        evals = [m.step for m in client.get_metric_history(run_id, "eval/fit")]
        assert sorted(evals) == expected, (run.info.run_name, evals)  # each evaluation once
        losses = collections.Counter(m.step for m in client.get_metric_history(run_id, LOSS_D))
        assert sorted(losses) == list(range(1, MAX_STEPS + 1)) and set(losses.values()) == {1}
        samples = [a.path for a in client.list_artifacts(run_id, "samples")]
        assert len(samples) == len(set(samples)) == len(expected)
        assert [a.path for a in client.list_artifacts(run_id, "checkpoints")] == ["checkpoints/best.pt"]
    if name == "wide":  # many writers at once: the trials' MLflow runs overlap in time
        edges = sorted([(r.info.start_time, 1) for r in runs] + [(r.info.end_time, -1) for r in runs])
        peak = max(itertools.accumulate(d for _, d in edges))
        print(f"pg_wide: {peak} of {len(runs)} trials logging at the same time")
        assert peak >= plan["trials"] // 2
    assert {row["gan"] for row in rows} == set(plan["gans"])
    assert "leaderboard.md" in {a.path for a in client.list_artifacts(state["parent_run_id"])}


def test_optuna_studies_live_in_postgresql(stores, two_studies):
    """Both studies' searches are in the one PostgreSQL database (none in a local optuna.db),
    each trial told once with its final value."""
    import optuna

    storage = stores["pg"]["url"]("optuna")
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    assert names == sorted([f"pg_wide-{g}" for g in WIDE["gans"]] + [f"pg_side-{g}" for g in SIDE["gans"]])
    for name, plan in (("wide", WIDE), ("side", SIDE)):
        study = two_studies[name][0]
        assert not (study.study_dir / "optuna.db").exists()
        for gan in plan["gans"]:
            trials = optuna.load_study(study_name=f"{study.name}-{gan}", storage=storage).get_trials()
            assert len(trials) == plan["trials"]
            assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}


def test_a_password_in_the_storage_url_is_refused(tmp_path):
    from study.study_file import StudyError, parse_study

    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/optuna"
    with pytest.raises(StudyError, match=r"^search.storage: a password in the URL is refused .* PGPASSWORD") as err:
        parse_study(_doc("pg_pw", WIDE, tmp_path / "studies", url, f"sqlite:///{tmp_path}/m.db"))
    assert PASSWORD not in str(err.value)


def test_an_unreachable_storage_is_refused_before_any_work(tmp_path):
    from study.preflight import preflight
    from study.study_file import StudyError, parse_study

    from _servers import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/optuna"  # nothing listens there
    study = parse_study(_doc("pg_down", WIDE, tmp_path / "studies", url, f"sqlite:///{tmp_path}/m.db"))
    with pytest.raises(StudyError, match=r"^search.storage = 'postgresql://postgres@127.0.0.1:\d+/optuna': "
                                         r"unreachable \(OperationalError") as err:
        preflight(study)
    assert "\n" not in str(err.value)
    assert not study.study_dir.exists()
