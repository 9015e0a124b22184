"""A study whose `storage_path` is an s3:// URI (issue 5): Tune keeps every trial and checkpoint
in the bucket, the driver keeps its state file, optuna.db and leaderboard under `local_path`,
and an interrupted study is resumed from the checkpoints in the bucket.

The bucket is served by a local S3 endpoint (moto's server on 127.0.0.1) reached through the
same pyarrow S3 filesystem Ray Tune uses on AWS (`AWS_ENDPOINT_URL` points it there).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "gan-studies"
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A local S3 endpoint with one bucket; yields (endpoint, env, boto3 client)."""
    pytest.importorskip("moto")
    import boto3

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("s3") / "moto.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the local S3 endpoint did not start")
                time.sleep(0.3)
        env = {**S3_ENV, "AWS_ENDPOINT_URL": endpoint}
        client = boto3.client("s3", endpoint_url=endpoint, **{
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
            "region_name": "us-east-1"})
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, env, client
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _keys(client, prefix: str) -> list[str]:
    keys, token = [], None
    while True:
        kw = {"Bucket": BUCKET, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
        page = client.list_objects_v2(**kw)
        keys += [o["Key"] for o in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not token:
            return keys


def test_unreachable_bucket_is_one_line_before_anything(s3, tmp_path, monkeypatch):
    from study.preflight import preflight
    from study.study_file import StudyError, parse_study

    _, env, _ = s3
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    study = parse_study({"name": "nobucket", "gans": ["mbgan"], "storage_path": "s3://no-such-bucket/x",
                         "local_path": str(tmp_path / "local")})
    with pytest.raises(StudyError) as info:
        preflight(study)
    message = str(info.value)
    assert message.startswith("storage_path = 's3://no-such-bucket/x': not writable") and "\n" not in message
    assert not (tmp_path / "local" / "nobucket").exists()


def test_study_on_s3_is_interrupted_and_resumed_from_the_bucket(s3, tmp_path):
    from mlflow import MlflowClient

    _, s3_env, client = s3
    (tmp_path / "s3.toml").write_text(f"""
name = "ons3"
gans = ["mbgan"]
storage_path = "s3://{BUCKET}/studies"
local_path = "{tmp_path / 'local'}"
max_concurrent = 1
[dataset]
name = "ring8"
[run.eval]
num_samples = 300
[budget]
max_steps = 200
eval_every = 50
[search]
samples_per_gan = 2
sampler = "random"
[scheduler]
type = "none"
[mlflow]
register_model = false
""")
    env = {**os.environ, **s3_env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    prefix = "studies/ons3/sweep/"
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "study.cli", "run", "s3.toml"], cwd=tmp_path,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    sent, deadline = False, time.time() + 240
    while proc.poll() is None and time.time() < deadline:
        # a trial has 3 checkpoints in the bucket (steps 0, 50, 100 of 200): the worker uploads a
        # checkpoint before the driver records it, so waiting for the third one makes sure the
        # driver knows the second (step 50) when the interrupt arrives, and 100 steps remain
        if any("/checkpoint_000002/" in k for k in _keys(client, prefix)):
            proc.send_signal(signal.SIGINT)
            sent = True
            break
        time.sleep(0.3)
    proc.wait(timeout=120)
    log.close()
    first = (tmp_path / "run.log").read_text()
    assert sent, first[-3000:]
    study_dir = tmp_path / "local" / "ons3"
    assert json.loads((study_dir / "study_state.json").read_text())["status"] == "interrupted", first[-3000:]

    resumed = subprocess.run([sys.executable, "-m", "study.cli", "resume", str(study_dir)],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-4000:]
    assert f"restoring the interrupted sweep from s3://{BUCKET}/studies/ons3/sweep" in out
    state = json.loads((study_dir / "study_state.json").read_text())
    assert state["status"] == "done"
    # the driver's files are local; no trial directory or checkpoint is
    assert {"study_state.json", "optuna.db", "mlflow.db", "leaderboard.md"} <= {p.name for p in study_dir.iterdir()}
    assert not list(study_dir.rglob("checkpoint_*"))
    # Tune's experiment state, 2 trial directories and their checkpoints are in the bucket
    keys = _keys(client, prefix)
    assert any(k.startswith(prefix + "experiment_state-") for k in keys)
    trials = {k[len(prefix):].split("/")[0] for k in keys if "/checkpoint_" in k}
    assert len(trials) == 2
    assert all(any(k.startswith(prefix + t + "/checkpoint_") and k.endswith("/checkpoint.pt") for k in keys)
               for t in trials)
    # every trial once in MLflow, complete curves; the interrupted one resumed from a saved step
    mlflow = MlflowClient(state["tracking_uri"])
    runs = mlflow.search_runs([state["experiment_id"]], "tags.kind = 'trial'")
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    for r in runs:
        steps = sorted(m.step for m in mlflow.get_metric_history(r.info.run_id, "eval/modes"))
        assert steps == [0, 50, 100, 150, 200]
    restarted = [r for r in runs if "resumed_from_step" in r.data.tags]
    assert restarted and all(int(r.data.tags["resumed_from_step"]) >= 50 for r in restarted)
