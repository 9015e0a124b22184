"""Errors raised when a named image dataset cannot be found on disk."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing (or fail torchvision's integrity check) and were not downloaded.

    The message is always a single line naming the dataset, the path that was searched and the
    fix (``download=true`` or pointing ``data.root`` at the folder that holds the files), so it
    reads well in a Ray Tune trial's error summary.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # collapse newlines: one line, always
