"""Deployment files in deploy/: they parse, they hang together, and the study files they carry
validate. Nothing here reaches a cloud, a Kubernetes cluster or Docker: what these files do on real
infrastructure is checked on paper only (see docs/cluster.md, "What was verified").

Run: python -m pytest -q tests/test_deploy_files.py
"""

from __future__ import annotations

import configparser
import copy
import os
import re
import shlex
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from study.study_file import load_study, parse_study

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def _pins() -> dict[str, str]:
    """name -> version of every `name==version` line of constraints.txt."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _docs(path: Path) -> list:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _kind(path: Path, kind: str) -> dict:
    found = [d for d in _docs(path) if d.get("kind") == kind]
    assert len(found) == 1, f"{path.name}: expected one {kind}, found {len(found)}"
    return found[0]


def _option_names(command) -> set[str]:
    """Every --option a click command accepts."""
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)}


def _flags(args: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("--")}


# -- every YAML --------------------------------------------------------------------------------
def test_deploy_has_the_expected_files():
    names = {p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    for name in ("ray-cluster.yaml", "kuberay-rayjob.yaml", "Dockerfile", "README.md",
                 "study-cifar10-cluster.toml", "mlflow/docker-compose.yaml",
                 "mlflow/mlflow-k8s.yaml", "mlflow/one-box.sh", "mlflow/Dockerfile",
                 "mlflow/entrypoint.sh", "mlflow/postgres-init.sql"):
        assert name in names, name


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses(path):
    docs = _docs(path)
    assert docs and all(isinstance(d, dict) for d in docs)
    for doc in docs:  # Kubernetes objects name their API and kind
        if "kind" in doc:
            assert doc.get("apiVersion") and doc.get("metadata", {}).get("name")


# -- KubeRay RayJob ----------------------------------------------------------------------------
RAYJOB = DEPLOY / "kuberay-rayjob.yaml"


def _limits(group: dict) -> dict:
    """Resource limits of the Ray container of a head/worker group."""
    return group["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_rayjob_runs_the_study_on_a_gpu_worker_group():
    job = _kind(RAYJOB, "RayJob")
    assert job["apiVersion"] == "ray.io/v1"
    spec = job["spec"]
    assert spec["entrypoint"] == "study run /config/cifar10.toml"
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == _pins()["ray"]
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head["resources"].get("limits", {})  # CPU-only head
    gpu_groups = [g for g in cluster["workerGroupSpecs"] if "nvidia.com/gpu" in _limits(g)]
    assert gpu_groups, "no worker group requests nvidia.com/gpu"
    group = gpu_groups[0]
    assert int(_limits(group)["nvidia.com/gpu"]) == 1
    assert 1 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    # Every Ray container: the same image, the shared volume, GAN_* paths, MLflow credentials
    # from a Secret (never a literal value).
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"]
                                                             for g in cluster["workerGroupSpecs"]]
    pvc = _kind(RAYJOB, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    config_map = _kind(RAYJOB, "ConfigMap")
    images = set()
    for pod in pods:
        container = pod["containers"][0]
        images.add(container["image"])
        env = {e["name"]: e for e in container["env"]}
        assert env["GAN_DATA_ROOT"]["value"].startswith("/mnt/shared/")
        assert env["GAN_CACHE_DIR"]["value"].startswith("/mnt/shared/")
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        shared = volumes[mounts["/mnt/shared"]]
        assert shared["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        assert volumes[mounts["/config"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert len(images) == 1
    namespaces = {d["metadata"].get("namespace") for d in _docs(RAYJOB)}
    assert len(namespaces) == 1 and None not in namespaces


def test_rayjob_study_file_validates():
    config_map = _kind(RAYJOB, "ConfigMap")
    namespace = config_map["metadata"]["namespace"]
    study = parse_study(tomllib.loads(config_map["data"]["cifar10.toml"]))
    assert study.ray_address == "auto"
    assert study.storage_path == "/mnt/shared/studies"
    assert study.resources.gpu == 0.5
    assert study.dataset_name == "cifar10" and study.data["root"] == "/mnt/shared/data"
    assert study.run.eval["cache_dir"] == "/mnt/shared/cache"
    assert study.tracking_uri == f"http://mlflow.{namespace}.svc:5000"
    # Two trials fit one worker pod: its CPUs hold two CPU shares.
    job = _kind(RAYJOB, "RayJob")
    worker_limits = _limits(job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0])
    trials_per_gpu = round(1 / study.resources.gpu)
    assert float(worker_limits["cpu"]) >= trials_per_gpu * study.resources.cpu


def test_rayjob_tracking_uri_matches_the_mlflow_service():
    config_map = _kind(RAYJOB, "ConfigMap")
    uri = tomllib.loads(config_map["data"]["cifar10.toml"])["mlflow"]["tracking_uri"]
    service = _kind(DEPLOY / "mlflow" / "mlflow-k8s.yaml", "Service")
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert uri == f"http://{host}:{service['spec']['ports'][0]['port']}"
    deployment = _kind(DEPLOY / "mlflow" / "mlflow-k8s.yaml", "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    allowed = next(a for a in args if a.startswith("--allowed-hosts=")).split("=", 1)[1].split(",")
    assert f"{host}:*" in allowed  # else the server answers 403 to the trials


# -- ray up ------------------------------------------------------------------------------------
CLUSTER = DEPLOY / "ray-cluster.yaml"


def test_ray_cluster_config_passes_rays_own_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(CLUSTER.read_text())
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` does first
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert not head["node_config"]["InstanceType"].startswith(("g", "p"))  # CPU-only head
    gpu = [t for name, t in types.items() if name != config["head_node_type"]]
    assert gpu and gpu[0]["node_config"]["InstanceType"].startswith("g5.")
    assert 0 <= gpu[0]["min_workers"] <= gpu[0]["max_workers"] <= config["max_workers"]


def test_ray_cluster_installs_with_constraints_and_mounts_shared_storage():
    config = yaml.safe_load(CLUSTER.read_text())
    setup = config["setup_commands"]
    installs = [c for c in setup if "pip install" in c]
    assert any("-c constraints.txt" in c and "-e ." in c for c in installs), installs
    pins = _pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert all(f"ray[default]=={pins['ray']}" in c for c in installs if "ray[" in c)
    assert any("mount -t nfs" in c and "/mnt/shared" in c for c in setup)
    assert config["file_mounts"]["~/metric-gan-studies"] == "."
    for command in config["head_start_ray_commands"] + config["worker_start_ray_commands"]:
        if "ray start" in command:
            assert "GAN_DATA_ROOT=/mnt/shared/data" in command
            assert "GAN_CACHE_DIR=/mnt/shared/cache" in command


def _ray_start_args(commands: list[str]) -> list[str]:
    starts = [part for c in commands for part in c.split(";") if "ray start" in part]
    assert len(starts) == 1, starts
    words = shlex.split(starts[0])
    return words[words.index("start") + 1:]


def test_ray_cluster_dashboard_stays_on_localhost():
    from ray.scripts.scripts import start

    config = yaml.safe_load(CLUSTER.read_text())
    head = _ray_start_args(config["head_start_ray_commands"])
    worker = _ray_start_args(config["worker_start_ray_commands"])
    assert "--head" in head and "--dashboard-host=127.0.0.1" in head
    assert not any("0.0.0.0" in a for a in head + worker)
    accepted = _option_names(start)
    assert _flags(head) <= accepted and _flags(worker) <= accepted


# -- study file for `ray up` ------------------------------------------------------------------
def test_cluster_study_file_validates():
    study = load_study(DEPLOY / "study-cifar10-cluster.toml")
    assert study.ray_address == "auto"
    assert study.storage_path == "/mnt/shared/studies"
    assert study.data["root"] == "/mnt/shared/data" and study.data["download"]
    assert study.run.eval["cache_dir"] == "/mnt/shared/cache"
    assert study.tracking_uri == "http://mlflow-host:5000"
    assert (study.resources.cpu, study.resources.gpu) == (4, 0.5)
    assert study.samples == 32 and study.scheduler.type == "asha"


# -- MLflow server -----------------------------------------------------------------------------
def test_mlflow_compose_runs_the_team_server():
    from mlflow.cli import server

    compose = _docs(DEPLOY / "mlflow" / "docker-compose.yaml")[0]
    services = compose["services"]
    assert {"postgres", "minio", "mlflow"} <= set(services)
    command = services["mlflow"]["command"]
    assert command[command.index("--backend-store-uri") + 1].startswith("postgresql://")
    assert command[command.index("--artifacts-destination") + 1] == "s3://mlflow/"
    assert {"--serve-artifacts", "--allowed-hosts", "--host", "--port"} <= set(command)
    assert _flags(command) <= _option_names(server)
    # No secret in the file: each one is a required ${VAR:?...} from the environment.
    for service in services.values():
        for key, value in (service.get("environment") or {}).items():
            if re.search("PASSWORD|SECRET|ACCESS_KEY", key):
                assert "${" in str(value) and ":?" in str(value), key
    (mlflow_pin,) = {v for k, v in _pins().items() if k == "mlflow"}
    assert f"mlflow[auth]=={mlflow_pin}" in (DEPLOY / "mlflow" / "Dockerfile").read_text()


def test_mlflow_k8s_takes_secrets_from_a_secret():
    from mlflow.cli import server

    path = DEPLOY / "mlflow" / "mlflow-k8s.yaml"
    container = _kind(path, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert _flags(container["args"]) <= _option_names(server)
    assert "--backend-store-uri=$(MLFLOW_BACKEND_STORE_URI)" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    for name in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_DATABASE_URI",
                 "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-server"


def _fake_mlflow(tmp_path: Path) -> dict:
    """A PATH where `mlflow` records its arguments and the auth config it was handed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mlflow"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_OUT/args"\n'
                    'if [ -n "${MLFLOW_AUTH_CONFIG_PATH:-}" ]; then '
                    'cp "$MLFLOW_AUTH_CONFIG_PATH" "$FAKE_OUT/auth.ini"; fi\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_OUT": str(tmp_path),
            "HOME": str(tmp_path)}


def test_mlflow_entrypoint_writes_the_auth_config_without_the_admin_password(tmp_path):
    uri = "postgresql://mlflow:p%40ss@db:5432/mlflow_auth"  # URL-encoded '@': a '%' to escape
    env = {**_fake_mlflow(tmp_path), "MLFLOW_AUTH_DATABASE_URI": uri,
           "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-password-123",
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "k",
           "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "a.ini")}
    subprocess.run([str(DEPLOY / "mlflow" / "entrypoint.sh"), "--host", "0.0.0.0"], env=env,
                   check=True, timeout=30)
    args = (tmp_path / "args").read_text().split()
    assert args[:3] == ["server", "--app-name", "basic-auth"] and args[3:] == ["--host", "0.0.0.0"]
    written = (tmp_path / "auth.ini").read_text()
    assert "admin-password-123" not in written
    assert stat.S_IMODE((tmp_path / "a.ini").stat().st_mode) == 0o600
    # Read it as mlflow.server.auth.config.read_auth_config does (a plain ConfigParser, '%'
    # interpolation on; importing that module needs Flask-WTF, absent from the test env).
    config = configparser.ConfigParser()
    config.read(tmp_path / "auth.ini")
    assert config["mlflow"]["database_uri"] == uri
    assert config["mlflow"]["admin_username"] == "admin"
    assert config["mlflow"]["authorization_function"] == \
        "mlflow.server.auth:authenticate_request_basic_auth"


def test_mlflow_entrypoint_refuses_to_start_without_its_secrets(tmp_path):
    result = subprocess.run([str(DEPLOY / "mlflow" / "entrypoint.sh")], env=_fake_mlflow(tmp_path),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "MLFLOW_AUTH_DATABASE_URI" in result.stderr
    assert not (tmp_path / "args").exists()


def test_one_box_script_serves_sqlite_on_localhost(tmp_path):
    env = {**_fake_mlflow(tmp_path), "MLFLOW_HOME": str(tmp_path / "srv")}
    subprocess.run([str(DEPLOY / "mlflow" / "one-box.sh")], env=env, check=True, timeout=30,
                   capture_output=True)
    args = (tmp_path / "args").read_text().split()
    assert args[0] == "server"
    value = {flag: args[args.index(flag) + 1] for flag in ("--backend-store-uri", "--host")}
    assert value["--backend-store-uri"] == f"sqlite:///{tmp_path / 'srv'}/mlflow.db"
    assert value["--host"] == "127.0.0.1"
    assert "--serve-artifacts" in args
    assert (tmp_path / "srv" / "mlartifacts").is_dir()


# -- images ------------------------------------------------------------------------------------
def test_dockerfile_installs_the_package_with_constraints():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12-slim$", text, re.M)
    assert "pip install -c /app/constraints.txt -e ." in text
    assert f"ray[default]=={_pins()['ray']}" in text
    for source in re.findall(r"^COPY (?!--)(.+) \S+$", text, re.M):  # every COPY source exists
        for item in source.split():
            assert (ROOT / item).exists(), item
