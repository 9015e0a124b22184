"""On-disk cache of real-data feature statistics, shared by all trials of a study.

Each entry is one ``torch.save`` file of tensors only (read back with ``weights_only=True``), named
by a readable prefix plus a SHA256 of the full key. Writes are atomic (temp file + ``os.replace``)
and computing a missing entry happens under a file lock, so concurrent trials compute it once.
"""

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from filelock import FileLock

CACHE_FORMAT_VERSION = 1  # bump when the stored fields change
DOWNLOAD_WEIGHTS_ID = "download"  # weights id of an extractor using its default downloaded weights
_HASH_CHUNK = 1 << 20  # bytes read at a time when hashing a weights file
_FILE_MODE = 0o644  # mkstemp creates 0600; cache files are meant to be read by every trial


def sha256_file(path: str) -> str:
    """Hex SHA256 of a file's content (identifies a weights file independently of its name)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save`` to a temp file in the target folder, then ``os.replace`` it onto ``path``.

    Readers never see a half-written file; the last concurrent writer wins with a complete file.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(handle, "wb") as tmp_file:
            torch.save(obj, tmp_file)
        os.chmod(tmp_path, _FILE_MODE)
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


@dataclass(frozen=True)
class StatsKey:
    """Everything the real-data statistics depend on.

    ``dataset``: dataset name and split (e.g. ``"mnist-t10k"``); ``extractor``: registered
    torch-fidelity feature extractor name; ``weights_id``: SHA256 of its weights file, or
    ``"download"`` for the default download; ``num_samples``: real images used; ``image_size``:
    (H, W) the images are compared at; ``layers``: feature layers stored.
    """

    dataset: str
    extractor: str
    weights_id: str
    num_samples: int
    image_size: tuple[int, int]
    layers: tuple[str, ...]

    def filename(self) -> str:
        """``<dataset>-<extractor>-n<num>-<H>x<W>-<sha256 of the whole key, 16 hex>.pt``."""
        fields = {**asdict(self), "version": CACHE_FORMAT_VERSION}
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=list).encode()).hexdigest()[:16]
        readable = f"{self.dataset}-{self.extractor}-n{self.num_samples}-{self.image_size[0]}x{self.image_size[1]}"
        return re.sub(r"[^A-Za-z0-9._-]", "_", readable) + f"-{digest}.pt"


def _check_entry(entry) -> dict[str, torch.Tensor]:
    """Validate a loaded entry: a dict of str -> tensor."""
    if not isinstance(entry, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in entry.items()):
        raise ValueError("stats cache entry: expected a dict of str -> tensor")
    return entry


def load_stats(cache_dir: str, key: StatsKey) -> dict[str, torch.Tensor] | None:
    """Return the cached entry for ``key`` or None when absent."""
    path = Path(cache_dir) / key.filename()
    if not path.is_file():
        return None
    return _check_entry(torch.load(path, map_location="cpu", weights_only=True))


def cached_stats(
    cache_dir: str, key: StatsKey, compute: Callable[[], dict[str, torch.Tensor]]
) -> tuple[dict[str, torch.Tensor], bool]:
    """Return ``(entry, hit)``: the cached entry for ``key``, or ``compute()`` stored atomically on a miss.

    The lookup is repeated under a per-key file lock, so when several trials miss at once only
    the first computes; the others wait and then load its file.
    """
    entry = load_stats(cache_dir, key)
    if entry is not None:
        return entry, True
    os.makedirs(cache_dir, exist_ok=True)
    path = Path(cache_dir) / key.filename()
    with FileLock(str(path) + ".lock"):
        entry = load_stats(cache_dir, key)
        if entry is not None:
            return entry, True
        entry = _check_entry(compute())
        atomic_torch_save({k: v.detach().cpu() for k, v in entry.items()}, str(path))
    return entry, False
