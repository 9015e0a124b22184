"""Finding and loading a trial's checkpoints on its storage (local, NFS, S3, GCS: pyarrow).

Used by the worker (:func:`load_trial_checkpoint` when Tune restarts a trial) and by the driver
(:func:`study.reconcile.mark_deleted_checkpoints` puts a ``DELETED_MARKER`` placeholder where Tune
deleted a checkpoint its last snapshot still names).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.fs
from ray import tune

from trainables.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint, load_first

if TYPE_CHECKING:
    from trainables.loop import GanRun

# Sole file of a placeholder checkpoint folder, put where Tune deleted a checkpoint after the
# experiment snapshot a killed driver left (study.reconcile.mark_deleted_checkpoints).
DELETED_MARKER = "DELETED_BY_TUNE"


def checkpoint_index(path: str) -> int:
    """N of a ``.../checkpoint_NNNNNN`` folder; -1 for any other name."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return int(name.split("_")[-1]) if name.startswith("checkpoint_") and name.split("_")[-1].isdigit() else -1


def is_placeholder(checkpoint) -> bool:
    """Whether ``checkpoint`` is a folder :func:`study.reconcile.mark_deleted_checkpoints` put in
    place of one Tune deleted after its last snapshot (it holds only the marker file)."""
    info = checkpoint.filesystem.get_file_info(f"{checkpoint.path.rstrip('/')}/{DELETED_MARKER}")
    return info.type == pyarrow.fs.FileType.File


def sibling_checkpoints(checkpoint) -> list:
    """The real checkpoints (``checkpoint_NNNNNN``, placeholders left out) in the folder of
    ``checkpoint``, on any pyarrow filesystem (local, NFS, S3, GCS), newest first."""
    parent = checkpoint.path.rstrip("/").rsplit("/", 1)[0]
    infos = checkpoint.filesystem.get_file_info(pyarrow.fs.FileSelector(parent))
    found = [tune.Checkpoint(i.path, filesystem=checkpoint.filesystem) for i in infos
             if i.type == pyarrow.fs.FileType.Directory and checkpoint_index(i.path) >= 0]
    return sorted((c for c in found if not is_placeholder(c)), key=lambda c: checkpoint_index(c.path),
                  reverse=True)


def older_checkpoints(checkpoint) -> list:
    """The trial's real checkpoints older than ``checkpoint``, newest first."""
    index = checkpoint_index(checkpoint.path)
    return [c for c in sibling_checkpoints(checkpoint) if checkpoint_index(c.path) < index]


def load_trial_checkpoint(checkpoint, run: "GanRun | None" = None, trial_name: str | None = None) -> dict:
    """The payload of Tune's checkpoint of this trial, loaded into ``run`` when given.

    Tune hands a restarted trial the latest checkpoint it registered. When that one lies in the
    trial's own folder (``trial_name``; not a checkpoint another trial copied under PBT), the
    trial's newest checkpoint on storage is tried first: after a driver kill, Tune's last snapshot
    can name an older one, or one it deleted since (a placeholder, see
    :func:`study.reconcile.mark_deleted_checkpoints`). When a candidate is truncated, foreign or
    does not fit the run (:class:`CheckpointError`), the next older one is tried (one warning
    line per skipped file). Raises CheckpointError when none loads."""
    def load(candidate) -> dict:
        with candidate.as_directory() as ckpt_dir:
            path = Path(ckpt_dir) / CHECKPOINT_NAME
            payload = load_checkpoint(path)
            if run is not None:
                run.restore(payload, path)
            return payload

    def warn(candidate, exc: CheckpointError) -> None:
        print(f"warning: {candidate.path}: unusable checkpoint, trying an older one ({exc})", flush=True)

    deleted = is_placeholder(checkpoint)
    if deleted:
        print(f"{checkpoint.path}: deleted by Tune after the snapshot this sweep was restored from; "
              f"resuming from the trial's newest checkpoint", flush=True)
    own = trial_name is not None and Path(checkpoint.path.rstrip("/")).parent.name == trial_name
    if own or deleted:
        candidates = sibling_checkpoints(checkpoint)
    else:
        candidates = [checkpoint] + older_checkpoints(checkpoint)
    try:
        used, payload = load_first(candidates, load, warn)
    except CheckpointError as exc:
        raise CheckpointError(f"{checkpoint.path}: no loadable checkpoint in this trial ({exc})") from None
    if used.path.rstrip("/") != checkpoint.path.rstrip("/"):
        older = checkpoint_index(used.path) < checkpoint_index(checkpoint.path)
        print(f"resuming from the {'older' if older else 'newer'} checkpoint {used.path} (step "
              f"{payload['step']}) instead of {checkpoint.path}", flush=True)
    return payload
