"""Starting or joining Ray for a study: runtime environment of the trials, the preflight check."""

from __future__ import annotations

import logging
import os

import ray

from study.preflight import check_cluster
from study.study_file import StudyError, StudyFile

# -- Ray / Tune pieces ---------------------------------------------------------------------------
# Driver environment variables handed on to every trial process (non-secret settings only:
# credentials stay with each node, e.g. its cloud role or its own environment).
TRIAL_ENV_PASSTHROUGH = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
                         "GOOGLE_CLOUD_PROJECT", "GAN_DATA_ROOT", "GAN_CACHE_DIR")


def trial_env(tracking_uri: str) -> dict[str, str]:
    """The ``runtime_env`` variables of a study's trials on any node: ``MLFLOW_TRACKING_URI``
    (credential-free: the study file refuses passwords in it) and the pass-through settings
    present in the driver's environment."""
    env = {"MLFLOW_TRACKING_URI": tracking_uri}
    env.update({k: os.environ[k] for k in TRIAL_ENV_PASSTHROUGH if os.environ.get(k)})
    return env


def init_ray(address: str, env_vars: dict[str, str] | None = None) -> bool:
    """Start (local, dashboard off) or join (``auto`` / ``ray://``) Ray with ``env_vars`` in the
    job's runtime environment (every trial on every node gets them); True if we started it."""
    # Forced experiment snapshots (num_to_keep + frequent evaluations) are expected here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's classic reporter (compact tables, no per-trial config boxes) instead of the new one.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if ray.is_initialized():
        return False
    runtime_env = {"env_vars": dict(env_vars)} if env_vars else None
    if address == "local":
        # address="local": a new cluster even when another one (`ray start`, ray.cluster_utils)
        # runs on this machine: a bare ray.init() would join the last one started by `ray start`
        ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True,
                 runtime_env=runtime_env)
    else:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True,
                 runtime_env=runtime_env)
    return True


def start_ray_checked(study: StudyFile) -> bool:
    """Start/join Ray and check a trial fits on some node (else StudyError, Ray left as found)."""
    started = init_ray(study.ray_address, trial_env(study.tracking_uri))
    try:
        check_cluster(study)
    except StudyError:
        if started:
            ray.shutdown()
        raise
    return started


def trial_slots(cpu: float, gpu: float) -> int:
    """How many trials of ``cpu`` CPUs and ``gpu`` GPUs the alive nodes of the connected Ray
    cluster hold at once (a trial never spans nodes: the sum over nodes of what each holds)."""
    total = 0
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        have = node["Resources"]
        fits = [int(have.get("CPU", 0.0) / cpu + 1e-9)] if cpu > 0 else []
        if gpu > 0:
            fits.append(int(have.get("GPU", 0.0) / gpu + 1e-9))
        total += min(fits) if fits else 0
    return total
