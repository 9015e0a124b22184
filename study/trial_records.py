"""What a trial's MLflow run records about its own life, beside its metrics (the Ray side).

Each (re)start of a trial appends where it runs to the ``placements`` tag (node, host, pid, the
GPUs Ray assigned, the torch device, the step it starts from); a PBT/PB2 member also logs its
hyperparameters as ``pbt/<param>`` metrics and, after an exploit, one ``pbt_lineage`` entry.
All writes go through :class:`~study.tracking.TrialTracker`.
"""

from __future__ import annotations

import os
import socket

import ray

from study.tracking import PBT_PREFIX, TAG_PBT_LINEAGE, TAG_PLACEMENTS, TAG_RESUMED_FROM, TrialTracker
from trainables.loop import GanRun


def placement(run: GanRun) -> dict:
    """Where this (re)start of the trial runs: Ray node id, host, worker pid, the GPU ids Ray
    assigned (``CUDA_VISIBLE_DEVICES``), the torch device in use, and the step it starts from."""
    return {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
            "pid": os.getpid(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "device": str(run.device), "step": run.step}


def record_placement(tracker: TrialTracker, run: GanRun) -> None:
    """Append this start to the run's ``placements`` tag (history across retries/restores)."""
    tracker.append_to_tag(TAG_PLACEMENTS, placement(run))
    if run.step > 0:
        tracker.set_tags({TAG_RESUMED_FROM: str(run.step)})


def record_pbt(tracker: TrialTracker, run: GanRun, point: dict, copied: dict | None, trial_id: str,
               lineage: list | None) -> list:
    """A PBT member's lineage in MLflow: its numeric hyperparameters as ``pbt/<param>`` metrics at
    this (re)start's step, and the ``pbt_lineage`` tag: the exploits its weights descend from, in
    the order they ran (the step, the trial and MLflow run it copied, its new values). Returns
    that lineage, which the member's own checkpoints carry (``lineage``: the one in the member's
    own checkpoint it restarts from; None for a fresh start, a copy, or a checkpoint without one).

    The tag follows the weights when Ray starts a member again from an earlier point (a pause, a
    retry, a study resumed after a driver kill): from its own checkpoint, the tag becomes that
    checkpoint's lineage; from a copy already recorded, the exploit is not recorded twice and the
    exploits after it, of a timeline that is gone, are dropped. Steps need not rise along the
    lineage: PBT hands a member the donor's checkpoint of the donor's last perturbation, which may
    lie behind the member's own step."""
    values = {k: float(v) for k, v in point.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    recorded = tracker.list_tag(TAG_PBT_LINEAGE)
    replayed = False  # started again from a copy already recorded: its values are logged at this step
    if copied is None:
        now = recorded if lineage is None else list(lineage)
    else:
        entry = {"step": run.step, "copied_trial": copied.get("trial_id"),
                 "copied_run": copied.get("mlflow_run_id"), "values": values}
        replayed = entry in recorded
        now = recorded[:recorded.index(entry) + 1] if replayed else recorded + [entry]
        if not replayed:
            print(f"trial {trial_id}: PBT copied trial {copied.get('trial_id')} at step {run.step}", flush=True)
    if now != recorded:
        tracker.set_list_tag(TAG_PBT_LINEAGE, now)
    if not replayed:
        tracker.log_now({PBT_PREFIX + k: v for k, v in values.items()}, run.step)  # also at a step already logged
    return now
