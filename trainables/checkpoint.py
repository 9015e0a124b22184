"""Self-describing checkpoints: state dicts and plain data, written atomically, read weights-only.

A checkpoint file is a dict ``{"format": FORMAT_VERSION, "kind": "gan-run", "digest", "step",
"config", "best", "state": {...}}`` saved with ``torch.save``. ``digest`` is the SHA-256 of
everything else in the file (tensors by dtype, shape and bytes; plain data by value): a flipped
bit inside a weight still unpickles, and without the digest a resumed run would train from
corrupted weights (and diverge, or worse, not). Writing goes to a temporary file in the same
directory followed by ``os.replace`` so a crash never leaves a half-written checkpoint under the
final name. Loading uses ``weights_only=True``: a file that needs arbitrary pickled objects is
rejected, as is a truncated file, one of another format or one whose digest does not match,
each with one line naming the file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

FORMAT_VERSION = 2  # bump when the layout of the saved dict changes
KIND = "gan-run"  # what the file holds
CHECKPOINT_NAME = "checkpoint.pt"  # file name inside a checkpoint directory


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (one line naming the file)."""


def _update(h, obj) -> None:
    """Feed ``obj`` to the hash ``h`` canonically (mapping keys sorted, tensors as raw bytes)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(obj.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            _update(h, key)
            _update(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{type(obj).__name__}{len(obj)}".encode())
        for item in obj:
            _update(h, item)
    else:  # str, int, float, bool, None, bytes
        h.update(f"S{type(obj).__name__}:{obj!r};".encode())


def digest(data: dict) -> str:
    """SHA-256 (hex) of a checkpoint's content, ``digest`` key excluded."""
    h = hashlib.sha256()
    _update(h, {k: v for k, v in data.items() if k != "digest"})
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Atomically write ``payload`` (plus format/kind) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT_VERSION, "kind": KIND, **payload}
    data["digest"] = digest(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, pickle of arbitrary objects, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(exc).__name__}: {reason[:200]})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise CheckpointError(f"{path}: not a {KIND} checkpoint of this project")
    if data.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {data.get('format')!r}, this version reads {FORMAT_VERSION}"
        )
    try:
        intact = data.get("digest") == digest(data)
    except Exception:  # a value the canonical walk cannot read is as bad as a wrong digest
        intact = False
    if not intact:
        raise CheckpointError(f"{path}: checkpoint content does not match its digest (corrupted file)")
    return data


def load_first(candidates, load=load_checkpoint, on_skip=None) -> tuple[object, dict]:
    """``(candidate, payload)`` of the first of ``candidates`` (newest first) that ``load`` reads.

    Each unusable one (:class:`CheckpointError`) is passed to ``on_skip(candidate, error)``
    before the next is tried; when none loads, raises :class:`CheckpointError` with the first
    error (or "no checkpoint" when there were no candidates).
    """
    errors = []
    for candidate in candidates:
        try:
            return candidate, load(candidate)
        except CheckpointError as exc:
            errors.append(exc)
            if on_skip is not None:
                on_skip(candidate, exc)
    raise CheckpointError(str(errors[0]) if errors else "no checkpoint")
