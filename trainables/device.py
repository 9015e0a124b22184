"""Device selection: CUDA when present (Ray sets CUDA_VISIBLE_DEVICES per trial), else CPU."""

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
