"""End-to-end smoke study through the `study` CLI: 2 GANs x 3 trials on ring8 with ASHA (both
GANs' trials in one sweep), interrupted (SIGINT) once three trials have checkpoints, then
`study resume`d to the end.

Ray runs only in the driver subprocesses (each shuts its local cluster down); this process
never starts Ray. Trials run one at a time (max_concurrent = 1) so ASHA's decisions do not
depend on timing: the first trial at a rung sets the cutoff, a later one below it is stopped.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import signal
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GANS = ("mbgan", "gngan")  # the two fastest metric-learning GANs on the toy nets
MAX_STEPS, EVAL_EVERY, TRIALS = 150, 50, 3
STUDY = f"""
name = "e2e"
gans = {list(GANS)!r}
max_concurrent = 1
max_failures = 1
[run]
steps = {MAX_STEPS}
[run.data]
name = "ring8"
[run.net]
arch = "toy_triplet"  # small nets: this test is about the study's life cycle, not quality
[run.eval]
every = {EVAL_EVERY}
num_samples = 500
[search]
samples_per_gan = {TRIALS}
seed = 0
[scheduler]
type = "asha"
grace_period = {EVAL_EVERY}
reduction_factor = 2
"""
TIMEOUT_S = 300  # per driver process


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "study.cli", *args]


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    """Run the study, SIGINT it once three trials have a checkpoint (trials of both GANs), resume
    it; returns paths, exit codes, outputs and the state seen after the interruption."""
    work = tmp_path_factory.mktemp("e2e")
    (work / "e2e.toml").write_text(STUDY)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    study_dir = work / "studies" / "e2e"
    log1 = open(work / "run.log", "w")
    proc = subprocess.Popen(_cli("run", "e2e.toml"), cwd=work, env=env, stdout=log1,
                            stderr=subprocess.STDOUT)
    deadline, sent = time.time() + TIMEOUT_S, False
    while proc.poll() is None and time.time() < deadline:
        trials = {os.path.dirname(p) for p in glob.glob(str(study_dir / "sweep" / "*" / "checkpoint_*"))}
        if len(trials) >= 3:
            proc.send_signal(signal.SIGINT)
            sent = True
            break
        time.sleep(0.1)
    try:
        rc1 = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    log1.close()
    interrupted_state = json.loads((study_dir / "study_state.json").read_text())
    resumed = subprocess.run(_cli("resume", str(study_dir)), cwd=work, env=env,
                             capture_output=True, text=True, timeout=TIMEOUT_S)
    state = json.loads((study_dir / "study_state.json").read_text())
    return {"work": work, "dir": study_dir, "sent": sent, "rc1": rc1,
            "out1": (work / "run.log").read_text(), "interrupted": interrupted_state,
            "rc2": resumed.returncode, "out2": resumed.stdout + resumed.stderr, "state": state}


@pytest.fixture(scope="module")
def mlflow_runs(study_run):
    from mlflow import MlflowClient

    state = study_run["state"]
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]], max_results=1000)
    return client, runs


def test_interrupted_study_resumes_to_the_end(study_run):
    assert study_run["sent"], study_run["out1"][-3000:]
    assert study_run["rc1"] == 130, study_run["out1"][-3000:]
    assert "study resume" in study_run["out1"]
    mid = study_run["interrupted"]
    assert mid["status"] == "interrupted"
    assert mid["gans"] == {gan: "running" for gan in GANS}
    assert study_run["rc2"] == 0, study_run["out2"][-3000:]
    out = study_run["out2"]
    assert "restoring the interrupted sweep" in out
    assert study_run["state"]["status"] == "done"
    assert set(study_run["state"]["gans"].values()) == {"done"}
    assert "mlflow ui --backend-store-uri sqlite:///" in out and "?workflowType=machine_learning" in out


def test_mlflow_one_parent_one_child_per_trial_all_closed(study_run, mlflow_runs):
    client, runs = mlflow_runs
    state = study_run["state"]
    parents = [r for r in runs if r.data.tags.get("kind") == "study"]
    assert len(parents) == 1 and parents[0].info.run_id == state["parent_run_id"]
    assert parents[0].info.status == "FINISHED"
    note = parents[0].data.tags["mlflow.note.content"]  # the study's front page in the MLflow UI
    rows = json.loads((study_run["dir"] / "leaderboard.json").read_text())
    for row in rows:  # a compact leaderboard whose rows link to each GAN's best trial
        assert f"| {row['gan']} | [{row['run_name']}](#/experiments/{state['experiment_id']}/runs/{row['run_id']}) |" in note
    assert "expected best eval/fit after k trials" in note.lower()
    # the study's figures on the parent: best samples side by side, every trial's curve per GAN
    figures = {a.path: a.file_size for a in client.list_artifacts(state["parent_run_id"])}
    assert {"best_samples.png", "curves.png", "budget_curves.png", "leaderboard.md"} <= set(figures)
    from PIL import Image

    for name in ("best_samples.png", "curves.png"):
        local = client.download_artifacts(state["parent_run_id"], name, str(study_run["dir"] / "downloaded"))
        width, height = Image.open(local).size
        assert width > 1.5 * height  # one panel per GAN, side by side (2 GANs)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == state["parent_run_id"]]
    assert len(children) == len(runs) - 1 == len(GANS) * TRIALS
    assert collections.Counter(r.data.tags["gan"] for r in children) == {g: TRIALS for g in GANS}
    assert len({r.data.tags["trial_id"] for r in children}) == len(children)  # no duplicate
    assert {r.info.status for r in children} == {"FINISHED"}
    # short run names, one per trial of each GAN; no error tag on runs that did not fail (issue 15)
    assert sorted(r.info.run_name for r in children) == sorted(f"{g} #{k}" for g in GANS for k in range(1, TRIALS + 1))
    assert not [r.info.run_name for r in children if "last_error" in r.data.tags]
    early = 0
    for run in children:
        curve = client.get_metric_history(run.info.run_id, "eval/modes")
        steps = [m.step for m in curve]
        assert len(steps) >= 2 and len(set(steps)) == len(steps), (run.info.run_name, steps)
        losses = [m.step for m in client.get_metric_history(run.info.run_id, "loss/d")]
        assert len(set(losses)) == len(losses) == max(steps)  # one point per step, none twice
        reason = run.data.tags["stop_reason"]
        assert reason == ("completed" if max(steps) == MAX_STEPS else "early_stopped")
        early += reason == "early_stopped"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"samples", "checkpoints", "curves", "config.yaml", "best_samples.png"} <= artifacts
        samples = client.list_artifacts(run.info.run_id, "samples")
        assert len(samples) == len(steps)
        assert [a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")] == ["checkpoints/best.pt"]
    assert early >= 1  # ASHA stopped at least one trial before max_steps


def test_leaderboard_names_the_best_trial(study_run, mlflow_runs, capsys):
    """Ranked value = the best eval/fit at step >= the first ASHA rung (the untrained step 0
    never ranks), recomputed here from the raw curves; extras are modes_20, hq, kl, precision,
    recall and the raw generator's eval_raw/fit at the ranked step."""
    from study.cli import main

    client, runs = mlflow_runs
    best = {}  # gan -> (best value, run id), computed here from the raw curves

    def ranked(run_id):
        return max(m.value for m in client.get_metric_history(run_id, "eval/fit") if m.step >= EVAL_EVERY)

    for run in runs:
        gan = run.data.tags.get("gan")
        if gan is None:
            continue
        top = ranked(run.info.run_id)
        if gan not in best or top > best[gan][0]:
            best[gan] = (top, run.info.run_id)
    rows = json.loads((study_run["dir"] / "leaderboard.json").read_text())
    assert {r["gan"] for r in rows} == set(GANS)
    for row in rows:
        assert row["metric"] == "eval/fit" and row["step"] >= EVAL_EVERY
        assert row["value"] == best[row["gan"]][0]
        top_runs = {r.info.run_id for r in runs if r.data.tags.get("gan") == row["gan"]
                    and ranked(r.info.run_id) == row["value"]}
        assert row["run_id"] in top_runs
        assert set(row["extras"]) == {"eval/modes_20", "eval/hq", "eval/kl", "eval/precision", "eval/recall",
                                      "eval_raw/fit"}  # the raw generator's metric beside the EMA's
        for key in ("eval/precision", "eval_raw/fit"):
            history = client.get_metric_history(row["run_id"], key)
            assert row["extras"][key] == next(m.value for m in history if m.step == row["step"])
    assert rows[0]["value"] == max(v for v, _ in best.values())
    assert main(["best", str(study_run["dir"])]) == 0
    out = capsys.readouterr().out
    assert rows[0]["run_id"] in out and rows[0]["gan"] in out


def test_mlflow_runs_table_sorted_by_best_metric_matches_the_leaderboard(study_run):
    """What the MLflow UI does when a researcher sorts the runs table by ``best/eval/fit`` (and
    filters one GAN): ``search_runs`` ordered by that metric puts each GAN's leaderboard winner
    first, and the whole study's first run is the registered winner."""
    from mlflow import MlflowClient

    state = study_run["state"]
    client = MlflowClient(state["tracking_uri"])
    rows = json.loads((study_run["dir"] / "leaderboard.json").read_text())
    order = ["metrics.`best/eval/fit` DESC", "metrics.`best/step` ASC"]
    trials = f"tags.`mlflow.parentRunId` = '{state['parent_run_id']}'"
    top = client.search_runs([state["experiment_id"]], trials, order_by=order, max_results=1)[0]
    assert top.info.run_id == rows[0]["run_id"]
    for row in rows:
        first = client.search_runs([state["experiment_id"]], f"{trials} and tags.gan = '{row['gan']}'",
                                   order_by=order, max_results=1)[0]
        assert first.data.metrics["best/eval/fit"] == row["value"]
        assert first.info.run_name.startswith(f"{row['gan']} #")
    parent = client.get_run(state["parent_run_id"])
    assert parent.data.metrics["best/eval/fit"] == rows[0]["value"]
    assert {f"best/{r['gan']}/eval/fit" for r in rows} <= set(parent.data.metrics)


def test_mlflow_best_metrics_agree_with_the_curves(study_run, mlflow_runs):
    """Each trial's latest best/eval/fit (what MLflow's runs table sorts and groups by) is its
    ranked value recomputed from the raw curve, at best/step; the leaderboard row read from the
    best/ metrics equals the one rebuilt from the metric histories (older runs' path)."""
    from types import SimpleNamespace

    from study.report import best_of_run

    client, runs = mlflow_runs
    checked = 0
    for run in runs:
        if run.data.tags.get("kind") != "trial" or "diverged_at_step" in run.data.tags:
            continue
        curve = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "eval/fit"))
        ranked = [(s, v) for s, v in curve if s >= EVAL_EVERY]
        if not ranked:
            assert "best/eval/fit" not in run.data.metrics
            continue
        top = max(v for _, v in ranked)
        assert run.data.metrics["best/eval/fit"] == top
        assert run.data.metrics["best/step"] == next(s for s, v in ranked if v == top)
        assert run.data.metrics["trained/steps"] == curve[-1][0]
        bare = SimpleNamespace(info=run.info, data=SimpleNamespace(tags=run.data.tags, metrics={}))
        assert best_of_run(client, run) == best_of_run(client, bare)
        checked += 1
    assert checked >= len(GANS)


def test_best_checkpoint_loads_and_sample_writes_png(study_run, tmp_path, capsys):
    from mlflow import MlflowClient

    from study.cli import main
    from trainables.loop import GanRun

    state = study_run["state"]
    rows = json.loads((study_run["dir"] / "leaderboard.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    registered = client.get_model_version("e2e", "1")
    assert registered.run_id == rows[0]["run_id"]
    from study.tracking import TAG_GAN, TAG_PRIMARY, TAG_RANKED_STEP

    assert (registered.tags[TAG_GAN], registered.tags[TAG_PRIMARY]) == (rows[0]["gan"], rows[0]["metric"])
    assert int(registered.tags[TAG_RANKED_STEP]) == rows[0]["step"]
    local = client.download_artifacts(rows[0]["run_id"], "checkpoints/best.pt", str(tmp_path))
    run = GanRun.from_checkpoint(local, device="cpu")
    assert run.cfg.gan == rows[0]["gan"] and run.step == rows[0]["step"]
    from trainables.evaluation import build_evaluator

    again = build_evaluator(run).evaluate(run)  # best.pt is exactly the ranked checkpoint
    assert again["eval/fit"] == pytest.approx(rows[0]["value"], abs=1e-6)
    assert again["eval/modes_20"] == rows[0]["extras"]["eval/modes_20"]
    out = tmp_path / "grid.png"
    assert main(["sample", "--best", str(study_run["dir"]), "-n", "64", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out2 = tmp_path / "by_id.png"
    assert main(["sample", rows[-1]["run_id"], "--tracking-uri", state["tracking_uri"],
                 "-o", str(out2)]) == 0
    assert out2.read_bytes()[:4] == b"\x89PNG"
    import numpy as np

    npz = tmp_path / "raw.npz"
    assert main(["sample", "--best", str(study_run["dir"]), "-n", "100", "-o", str(npz)]) == 0
    raw = np.load(npz)["samples"]
    assert raw.shape == (100, 2) and raw.dtype == np.float32 and np.isfinite(raw).all()
    assert main(["sample", "--best", str(study_run["dir"]), "-o", str(tmp_path / "pngs") + "/"]) == 2
    assert "2D points" in capsys.readouterr().err
    assert main(["sample", "0123456789abcdef", "--tracking-uri", state["tracking_uri"]]) == 2
    assert "not found" in capsys.readouterr().err


def test_copied_study_is_refused_until_relocated(study_run, tmp_path, capsys):
    """A study folder copied elsewhere: its commands refuse with the fix (they would read the
    original's database); `study relocate` points the copy's artifacts and state at the copy,
    after which `study best` / `study sample --best` work from the copy's own files."""
    import shutil

    from mlflow import MlflowClient

    from study.cli import main

    copy = tmp_path / "elsewhere" / "e2e"
    shutil.copytree(study_run["dir"], copy, ignore=shutil.ignore_patterns("sweep"))
    assert main(["best", str(copy)]) == 2
    assert f"study relocate {copy}" in capsys.readouterr().err
    assert main(["relocate", str(copy)]) == 0
    assert "artifact locations rewritten" in capsys.readouterr().out
    state = json.loads((copy / "study_state.json").read_text())
    assert state["tracking_uri"] == f"sqlite:///{copy}/mlflow.db"
    assert f"storage_path: {copy.parent}" in (copy / "study.yaml").read_text()
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]], max_results=100)
    assert runs and all(r.info.artifact_uri.startswith(f"{copy}/") or
                        r.info.artifact_uri.startswith(f"file://{copy}/") for r in runs)
    assert main(["best", str(copy)]) == 0
    out = tmp_path / "from_copy.png"
    assert main(["sample", "--best", str(copy), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["relocate", str(copy)]) == 0  # idempotent
    assert "already in place" in capsys.readouterr().out
    renamed = tmp_path / "renamed"
    copy.rename(renamed)
    assert main(["relocate", str(renamed)]) == 2
    assert "must keep the study's name 'e2e'" in capsys.readouterr().err


def test_printed_optuna_dashboard_command_opens_the_study_storage(study_run):
    """The summary prints `optuna-dashboard sqlite:///.../optuna.db`; optuna-dashboard's own WSGI
    app on that storage lists one Optuna study per GAN with every trial of the GAN."""
    import re
    from wsgiref.util import setup_testing_defaults

    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    storage = re.search(r"optuna-dashboard (sqlite:///\S+/optuna\.db)", study_run["out2"]).group(1)
    assert storage == f"sqlite:///{study_run['dir']}/optuna.db"
    app = optuna_dashboard.wsgi(storage)

    def get(path):
        env = {}
        setup_testing_defaults(env)
        env["PATH_INFO"] = path
        status = {}
        body = b"".join(app(env, lambda s, headers, exc=None: status.setdefault("s", s)))
        assert status["s"].startswith("200"), (path, status)
        return json.loads(body)

    studies = {s["study_name"]: s["study_id"] for s in get("/api/studies")["study_summaries"]}
    assert set(studies) == {f"e2e-{gan}" for gan in GANS}
    for name, study_id in studies.items():
        detail = get(f"/api/studies/{study_id}")
        assert len(detail["trials"]) == TRIALS, name


def test_this_process_never_started_ray():
    import ray

    assert ray.is_initialized() is False


def test_grid_study_runs_every_point(tmp_path):
    """The shipped YAML grid example in smoke-test size: one trial (and one MLflow child run,
    tagged with its point, params matching it) per grid point; leaderboard written."""
    from mlflow import MlflowClient

    from study.study_file import load_study

    example = ROOT / "study" / "examples" / "ring8_grid.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(_cli("run", str(example), "--smoke-test"), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    study = load_study(example, smoke_test=True)
    points = study.grid_points("tripletgan")
    state = json.loads((tmp_path / "studies" / study.name / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    children = client.search_runs([state["experiment_id"]],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{state['parent_run_id']}'")
    searched = sorted(json.dumps(json.loads(r.data.tags["searched"]), sort_keys=True) for r in children)
    assert searched == sorted(json.dumps(p, sort_keys=True) for p in points)
    for run in children:
        point = json.loads(run.data.tags["searched"])
        assert run.data.params["hparams.margin"] == str(float(point["hparams.margin"]))
        assert run.info.status == "FINISHED"
    assert (tmp_path / "studies" / study.name / "leaderboard.md").is_file()


def test_console_is_compact_without_ray_tables_or_download_bars(study_run):
    """`study run` / `resume` print the compact view: one 'started' line per trial start, no Tune
    status table, no artifact-download bars, no control codes, floats <= 4 significant digits."""
    for out in (study_run["out1"], study_run["out2"]):
        for noise in ("== Status ==", "Trial status", "Result logdir", "Downloading artifacts",
                      "Using FIFO scheduling", "Token authentication", "\x1b"):
            assert noise not in out, noise
        numbers = re.findall(r"(?<![\w./-])\d+\.\d+(?:e[-+]?\d+)?(?![\w/])", out)
        long = [n for n in numbers if len(n.split("e")[0].replace(".", "").lstrip("0")) > 4]
        assert not long, long
    assert re.search(r"^\[\w+\] trial \w+ started$", study_run["out1"], re.M)
