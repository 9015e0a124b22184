"""Device selection (CUDA when present: Ray sets CUDA_VISIBLE_DEVICES per trial, else CPU), copies
that do not make the host wait, and a counter of the host synchronisations CUDA reports."""

import warnings

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """Return the device to train on.

    ``"auto"`` picks the first visible CUDA device and falls back to CPU; ``"cpu"`` or
    ``"cuda[:i]"`` are honoured as given (asking for CUDA without one is an error).
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device = {requested!r}: no CUDA device is visible; use 'auto' or 'cpu'")
    return device


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` (a fresh CPU tensor) on ``device`` without making the host wait for the device: a
    plain host-to-GPU copy synchronises the stream, so CUDA targets get a pinned, non-blocking
    copy (the caching host allocator keeps the pinned buffer alive until the copy is done)."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


class CudaSyncs:
    """Counts the host synchronisations CUDA itself reports inside a ``with`` block.

    ``torch.cuda.set_sync_debug_mode("warn")`` makes every operation that blocks the host on the
    device (``item()``, a device-to-host copy, a copy from pageable host memory, ``nonzero``, ...)
    raise a warning; ``count`` is the number raised. CUDA only (on CPU nothing is reported).
    """

    def __enter__(self) -> "CudaSyncs":
        self._warnings = warnings.catch_warnings(record=True)
        self.records = self._warnings.__enter__()
        warnings.simplefilter("always")
        self._previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("warn")
        return self

    def __exit__(self, *exc) -> None:
        torch.cuda.set_sync_debug_mode(self._previous)
        self._warnings.__exit__(*exc)

    @property
    def count(self) -> int:
        return sum("synchroniz" in str(w.message) for w in self.records)
