"""Checks that need the outside world, run before any study directory, MLflow run or Ray work.

``preflight(study)`` (local checks, no Ray): the storage path is writable, an MLflow server URI
answers ``/health``, an image dataset is present when ``download`` is off, and a local study
asks no more CPUs/GPUs per trial than this machine has. ``check_cluster(study)`` (Ray started
or joined): some node of the cluster can hold one trial. Each failure is a one-line
:class:`StudyError` naming the field; the CLI turns it into exit status 2.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pyarrow.fs
import ray
import torch

from study.study_file import StudyError, StudyFile
from trainables.config import resolve_config
from trainables.data.dataset_errors import DatasetNotFoundError
from trainables.data.families import group_of
from trainables.data.images import build_image_dataset

HEALTH_TIMEOUT_S = 10  # seconds to wait for an MLflow server's /health


def _check_local_dir(field: str, value: str) -> None:
    path = Path(value)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StudyError(f"{field} = {value!r}: not writable ({exc.strerror or exc})") from None


def _check_uri(field: str, uri: str) -> None:
    """Write, read back and delete a small file under ``uri`` through pyarrow's filesystem for
    its scheme (the one Ray Tune uses): s3:// (credentials and AWS_ENDPOINT_URL from the
    environment), gs://, hdfs://, ..."""
    try:
        fs, root = pyarrow.fs.FileSystem.from_uri(uri)
        fs.create_dir(root)
        probe = f"{root.rstrip('/')}/.write-test-{uuid.uuid4().hex[:8]}"
        with fs.open_output_stream(probe) as out:
            out.write(b"ok")
        with fs.open_input_stream(probe) as inp:
            ok = inp.read() == b"ok"
        fs.delete_file(probe)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... with long messages
        reason = " ".join(str(exc).split())[:300]
        raise StudyError(f"{field} = {uri!r}: not writable ({type(exc).__name__}: {reason})") from None
    if not ok:
        raise StudyError(f"{field} = {uri!r}: a file written there did not read back")


def check_storage(study: StudyFile) -> None:
    """The storage path (a folder, or a URI every node reaches) and the driver's study folder
    are writable."""
    if study.remote_storage:
        _check_uri("storage_path", study.storage_path)
        _check_local_dir("local_path", study.local_path)
    else:
        _check_local_dir("storage_path", study.storage_path)


def check_tracking(study: StudyFile) -> None:
    uri = study.mlflow.tracking_uri
    if not uri or not uri.startswith(("http://", "https://")):
        return  # sqlite lives in the (checked) study directory
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT_S) as r:
            ok = r.status == 200
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StudyError(f"mlflow.tracking_uri = {uri!r}: unreachable ({reason})") from None
    if not ok:
        raise StudyError(f"mlflow.tracking_uri = {uri!r}: /health did not answer 200")


def check_optuna_storage(study: StudyFile) -> None:
    """``search.storage`` (a database URL) connects: SQLAlchemy opens it and runs one query."""
    url = study.search.storage
    if not url or not any(study.optuna_searched(gan) for gan in study.gans):
        return  # the default sqlite file lives in the (checked) study directory
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # a missing driver (ModuleNotFoundError), a refused connection, bad credentials
        reason = " ".join(str(exc).split())[:300]
        raise StudyError(f"search.storage = {url!r}: unreachable ({type(exc).__name__}: "
                         f"{reason})") from None


def check_dataset(study: StudyFile) -> None:
    if group_of(study.family) == "toy" or study.data.get("download"):
        return
    data = resolve_config(study.base_run(study.gans[0])).data
    try:
        build_image_dataset(data.name, data.root, download=False)
    except DatasetNotFoundError as exc:
        raise StudyError(f"run.data.root: {exc}") from None


def _fits(need: dict, have: dict) -> bool:
    return all(have.get(k, 0.0) + 1e-9 >= v for k, v in need.items() if v > 0)


def _need(study: StudyFile) -> dict:
    return {"CPU": study.resources.cpu, "GPU": study.resources.gpu}


def _describe(nodes: list[dict]) -> str:
    return "; ".join(f"CPU {n.get('CPU', 0):g}, GPU {n.get('GPU', 0):g}" for n in nodes) or "none"


def check_local_resources(study: StudyFile) -> None:
    if study.ray_address != "local":
        return

    have = {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    if not _fits(_need(study), have):
        raise StudyError(f"resources = {{cpu = {study.resources.cpu:g}, gpu = {study.resources.gpu:g}}}: "
                         f"more than this machine has ({_describe([have])}) for one trial")


def check_cluster(study: StudyFile) -> None:
    """Some alive node of the connected Ray cluster holds one trial's resources."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if not any(_fits(_need(study), n) for n in nodes):
        raise StudyError(f"resources = {{cpu = {study.resources.cpu:g}, gpu = {study.resources.gpu:g}}}: "
                         f"no node of the cluster can hold one trial (nodes: {_describe(nodes)})")


def preflight(study: StudyFile) -> None:
    check_storage(study)
    check_tracking(study)
    check_optuna_storage(study)
    check_dataset(study)
    check_local_resources(study)
