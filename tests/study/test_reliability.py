"""Faults end in a clear, recorded state and lose nothing (issue 6).

- bad input: a table of study files that must stop the CLI with exit status 2 and one line
  naming the field, before any study directory, MLflow run or Ray process exists;
- divergence: a grid study with one absurd learning rate next to healthy trials;
- corrupt checkpoints: the Tune trainable and the plain driver fall back to an older one;
- security: nothing from a config reaches a shell.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import torch

from study.cli import main
from trainables.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _study_text(tmp_path: Path, **sections) -> str:
    doc = {"name": "bad", "gans": ["tripletgan"], "storage_path": str(tmp_path / "studies"),
           "run": {"steps": 40, "data": {"name": "ring8"}, "eval": {"every": 20}}}
    for key, value in sections.items():
        doc[key] = {**doc[key], **value} if isinstance(doc.get(key), dict) else value
    return "\n".join(f"{k} = {_toml(v)}" for k, v in doc.items()) + "\n"


def _afile(tmp_path: Path) -> str:
    (tmp_path / "afile").write_text("x")
    return str(tmp_path / "afile" / "studies")  # a directory below a regular file: unwritable


# (case id) -> (overrides of the base study, text the one-line message must contain)
BAD_INPUT = {
    "unknown_key": ({"run": {"stepz": 10}}, "run.stepz"),
    "wrong_type": ({"run": {"steps": "40"}}, "run.steps"),
    "unknown_gan": ({"gans": ["tripletgan", "biggan"]}, "gans[1]"),
    "unknown_variant": ({"gans": ["mlgan"], "run": {"hparams": {"mlgan": {"variant": "foo"}}}},
                        "run.hparams.mlgan.variant"),
    "negative_margin": ({"run": {"hparams": {"tripletgan": {"margin": -1.0}}}},
                        "run.hparams.tripletgan.margin"),
    "lr_zero": ({"run": {"optim": {"lr_d": 0.0}}}, "run.optim.lr_d"),
    "loss_bound_zero": ({"run": {"optim": {"loss_bound": 0.0}}}, "run.optim.loss_bound"),
    "bounds_inverted": ({"gans": ["mmd_rep"], "run": {"hparams": {"mmd_rep": {"b_l": 4.0, "b_u": 1.0}}}},
                        "b_l"),
    "grace_above_max_t": ({"scheduler": {"grace_period": 30, "max_t": 20}}, "scheduler.grace_period"),
    "grid_lr_negative": ({"search": {"grid": {"optim.lr_g": [1e-4, -1.0]}}}, "optim.lr_g"),
    "samples_zero": ({"search": {"samples_per_gan": 0}}, "search.samples_per_gan"),
    "bad_ray_address": ({"ray_address": "nowhere"}, "ray_address"),
    "file_store_uri": ({"mlflow": {"tracking_uri": "file:///tmp/mlruns"}}, "mlflow.tracking_uri"),
    "password_in_uri": ({"mlflow": {"tracking_uri": "http://me:secret@127.0.0.1:9"}}, "mlflow.tracking_uri"),
    "unreachable_mlflow": ({"mlflow": {"tracking_uri": "http://127.0.0.1:9"}}, "mlflow.tracking_uri"),
    "missing_dataset": ({"run": {"data": {"name": "mnist", "root": "EMPTY"}}}, "run.data.root"),
    "too_many_gpus": ({"resources": {"gpu": 64.0}}, "resources"),
    "too_many_cpus": ({"resources": {"cpu": 4096.0}}, "resources"),
    "unwritable_storage": ({"storage_path": "AFILE"}, "storage_path"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_naming_the_field(case, tmp_path, capsys, monkeypatch):
    import ray

    monkeypatch.chdir(tmp_path)
    overrides, field = BAD_INPUT[case]
    overrides = json.loads(json.dumps(overrides).replace('"EMPTY"', json.dumps(str(tmp_path / "empty")))
                           .replace('"AFILE"', json.dumps(_afile(tmp_path))))
    (tmp_path / "empty").mkdir()
    path = tmp_path / "s.toml"
    path.write_text(_study_text(tmp_path, **overrides))
    code = main(["run", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and field in err, err
    assert "secret" not in err
    assert not ray.is_initialized()
    assert not (tmp_path / "studies" / "bad").exists()  # nothing created


def test_there_are_at_least_15_bad_input_cases():
    assert len(BAD_INPUT) >= 15


# -- divergence ----------------------------------------------------------------------------------
def _ray_processes() -> list[int]:
    """Live (not zombie) descendants of this process whose command line mentions Ray."""
    import os

    parents, cmd = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                pid = int(stat.parent.name)
                parents[pid] = int(fields[1])
                cmd[pid] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            pass

    def descends(pid: int) -> bool:
        while pid in parents and pid > 1:
            pid = parents[pid]
            if pid == os.getpid():
                return True
        return False

    return [p for p in parents if descends(p) and re.search(r"ray|raylet|gcs_server", cmd[p])]


@pytest.mark.slow
def test_diverging_trial_fails_alone_and_the_study_goes_on(tmp_path, monkeypatch):
    """wgan_gp with lr_d = 1e3 leaves the loss bound at step ~11; the two healthy trials finish."""
    import ray
    from mlflow import MlflowClient

    from study.study_file import parse_study
    from study.lifecycle import run_study

    monkeypatch.chdir(tmp_path)
    study = parse_study({
        "name": "div", "gans": ["wgan_gp"], "storage_path": str(tmp_path / "studies"),
        "dataset": {"name": "ring8"}, "budget": {"max_steps": 30, "eval_every": 5},
        "run": {"eval": {"num_samples": 500}}, "scheduler": {"type": "none"},
        "search": {"grid": {"optim.lr_d": [1e-4, 1e3, 2e-4]}}, "max_concurrent": 2})
    try:
        rows = run_study(study)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    state = json.loads((study.study_dir / "study_state.json").read_text())
    assert state["status"] == "done"
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]])
    children = [r for r in runs if r.data.tags.get("kind") == "trial"]
    assert len(children) == 3
    diverged = [r for r in children if "diverged_at_step" in r.data.tags]
    assert len(diverged) == 1
    bad = diverged[0]
    assert json.loads(bad.data.tags["searched"]) == {"optim.lr_d": 1e3}
    assert bad.info.status == "FAILED" and bad.data.tags["stop_reason"] == "diverged"
    step = int(bad.data.tags["diverged_at_step"])
    assert 0 < step < 30
    losses = json.loads(bad.data.tags["diverged_losses"])
    assert any(not isinstance(v, float) or abs(v) > 1e6 for v in losses.values())
    history = client.get_metric_history(bad.info.run_id, "eval/modes")
    assert all(m.value >= 0 for m in history)  # the worst value went to Tune only, not MLflow
    healthy = [r for r in children if r is not bad]
    assert all(r.info.status == "FINISHED" and r.data.tags["stop_reason"] == "completed" for r in healthy)
    assert all(max(m.step for m in client.get_metric_history(r.info.run_id, "eval/modes")) == 30
               for r in healthy)
    # the leaderboard ranks the healthy trials only and counts the diverged one
    assert rows[0]["run_id"] in {r.info.run_id for r in healthy}
    assert rows[0]["diverged"] == 1 and rows[0]["trials"] == 3
    # the diverged trial's last good checkpoint is kept under the study's storage
    trial_dir = next(p for p in (study.study_dir / "sweep").iterdir()
                     if p.is_dir() and bad.data.tags["trial_id"] in p.name)
    ckpts = sorted(trial_dir.glob("checkpoint_*"))
    assert ckpts
    assert load_checkpoint(ckpts[-1] / CHECKPOINT_NAME)["step"] < step
    # hygiene: nothing RUNNING in MLflow, no Ray left behind
    assert all(r.info.status != "RUNNING" for r in runs)
    assert not ray.is_initialized()
    deadline = time.time() + 30
    while _ray_processes() and time.time() < deadline:
        time.sleep(0.5)
    assert _ray_processes() == []
    # disk: at most num_to_keep (2) + the latest checkpoint per trial
    for trial in (study.study_dir / "sweep").iterdir():
        if trial.is_dir():
            assert len(list(trial.glob("checkpoint_*"))) <= 3


def test_diverged_is_raised_by_fit_on_nan_and_bound():
    from trainables.loop import GanRun
    from trainables.train import Diverged, check_losses, fit

    check_losses(3, {"loss/d": 1.0, "loss/g": -2.0}, bound=10.0)
    for bad in (float("nan"), float("inf"), -11.0):
        with pytest.raises(Diverged) as info:
            check_losses(7, {"loss/d": 1.0, "loss/g": bad}, bound=10.0)
        assert info.value.step == 7 and "\n" not in str(info.value)
    run = GanRun({"gan": "wgan_gp", "data": {"name": "ring8"}, "steps": 40, "device": "cpu",
                  "eval": {"every": 20, "num_samples": 200}, "optim": {"lr_d": 1e3}})
    with pytest.raises(Diverged) as info:
        fit(run)
    assert 0 < info.value.step <= run.step < 40  # caught at the first loss check after it


# -- corrupt checkpoints ---------------------------------------------------------------------------
def _payload(step: int) -> dict:
    return {"step": step, "config": {}, "best": None, "state": {"w": torch.full((3,), float(step))}}


def test_trainable_falls_back_to_the_newest_good_checkpoint(tmp_path, capsys):
    from ray import tune

    from study.trial_checkpoints import load_trial_checkpoint

    trial = tmp_path / "trial"
    for i in range(3):
        save_checkpoint(trial / f"checkpoint_{i:06d}" / CHECKPOINT_NAME, _payload(10 * i))
    data = (trial / "checkpoint_000002" / CHECKPOINT_NAME).read_bytes()
    (trial / "checkpoint_000002" / CHECKPOINT_NAME).write_bytes(data[: len(data) // 2])  # truncated
    payload = load_trial_checkpoint(tune.Checkpoint(str(trial / "checkpoint_000002")))
    assert payload["step"] == 10
    out = capsys.readouterr().out
    assert "checkpoint_000002" in out and "older checkpoint" in out
    (trial / "checkpoint_000001" / CHECKPOINT_NAME).write_bytes(b"not a zip")
    (trial / "checkpoint_000000" / CHECKPOINT_NAME).write_bytes(b"")
    from trainables.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="no loadable checkpoint"):
        load_trial_checkpoint(tune.Checkpoint(str(trial / "checkpoint_000002")))


def test_checkpoint_deleted_after_the_snapshot_resumes_from_the_trials_newest(tmp_path, capsys):
    """A killed driver's snapshot can name a checkpoint Tune deleted since: the resume puts a
    placeholder there (Ray would refuse the trial) and the trial loads its newest real checkpoint."""
    from ray import tune

    from study.reconcile import mark_deleted_checkpoints
    from study.trial_checkpoints import DELETED_MARKER, is_placeholder, load_trial_checkpoint

    exp = tmp_path / "sweep"
    trial = exp / "gngan_abc"
    for i in (1, 4, 5):  # Tune kept 1 (best score) and the latest ones; 0, 2, 3 were deleted
        save_checkpoint(trial / f"checkpoint_{i:06d}" / CHECKPOINT_NAME, _payload(10 * i))
    (exp / "experiment_state-x.json").write_text("{}")  # files beside the trial folders are left alone
    assert mark_deleted_checkpoints(str(exp)) == 3
    assert sorted(p.name for p in trial.iterdir()) == [f"checkpoint_{i:06d}" for i in range(6)]
    assert [p.name for p in (trial / "checkpoint_000003").iterdir()] == [DELETED_MARKER]
    assert mark_deleted_checkpoints(str(exp)) == 0  # idempotent
    named = tune.Checkpoint(str(trial / "checkpoint_000003"))  # what the snapshot names
    assert is_placeholder(named) and not is_placeholder(tune.Checkpoint(str(trial / "checkpoint_000004")))
    capsys.readouterr()
    assert load_trial_checkpoint(named, trial_name="gngan_abc")["step"] == 50
    out = capsys.readouterr().out
    assert "deleted by Tune" in out and "newer checkpoint" in out and "checkpoint_000005" in out
    # the trial's own older snapshot checkpoint: its newest one wins too
    assert load_trial_checkpoint(tune.Checkpoint(str(trial / "checkpoint_000001")), trial_name="gngan_abc")["step"] == 50
    # a checkpoint another trial copied (PBT exploit) is used as named, never its newer siblings
    assert load_trial_checkpoint(tune.Checkpoint(str(trial / "checkpoint_000004")), trial_name="gngan_xyz")["step"] == 40


def test_plain_driver_resumes_from_previous_when_latest_is_truncated(tmp_path, capsys):
    from trainables.train import train_to_dir

    config = {"gan": "mbgan", "data": {"name": "ring8"}, "steps": 20, "device": "cpu",
              "eval": {"every": 10, "num_samples": 200}}
    train_to_dir(config, tmp_path, progress=False)
    latest = tmp_path / "checkpoints" / "latest.pt"
    assert load_checkpoint(latest)["step"] == 20
    assert load_checkpoint(tmp_path / "checkpoints" / "previous.pt")["step"] == 10
    latest.write_bytes(latest.read_bytes()[:100])
    result = train_to_dir({**config, "steps": 30}, tmp_path, progress=False)
    captured = capsys.readouterr()
    assert "latest.pt" in captured.err and "previous.pt" in captured.out
    assert (tmp_path / "checkpoints" / "latest.pt.corrupt").exists()  # kept for inspection
    assert [m["step"] for m in result.curve] == [20, 30]
    assert load_checkpoint(latest)["step"] == 30


# -- security ----------------------------------------------------------------------------------
def test_no_shell_is_ever_used():
    pattern = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(")
    offenders = [str(p) for d in ("study", "trainables", "search_spaces")
                 for p in (ROOT / d).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_local_ray_has_no_dashboard(monkeypatch):
    """init_ray("local") asks Ray for no dashboard; joining a cluster leaves that to the cluster."""
    import ray

    from study import cluster

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    assert cluster.init_ray("local", {"X": "1"}) is True
    assert calls[-1]["include_dashboard"] is False and calls[-1]["runtime_env"] == {"env_vars": {"X": "1"}}
    cluster.init_ray("auto")
    assert calls[-1]["address"] == "auto" and "include_dashboard" not in calls[-1]
