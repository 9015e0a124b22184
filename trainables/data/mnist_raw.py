"""MNIST from its raw idx files, working when only the test split (t10k) is on disk.

torchvision's ``MNIST`` class requires all four raw files (train and t10k) before it loads
either split, but these machines only hold ``<root>/MNIST/raw/t10k-*``. So the files are read
here with torchvision's own idx readers (``read_image_file`` / ``read_label_file``), and
torchvision's ``MNIST(..., download=True)`` is used to fetch missing files when asked.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torchvision.datasets import MNIST
from torchvision.datasets.mnist import read_image_file, read_label_file

from trainables.data.dataset_errors import DatasetNotFoundError

MNIST_PREFIXES: dict[str, tuple[str, ...]] = {
    "train": ("train",),  # 60,000 images (absent on these machines)
    "test": ("t10k",),  # 10,000 images
    "all": ("train", "t10k"),  # train then test, concatenated
}


def mnist_raw_folder(root: str | os.PathLike) -> Path:
    """``<root>/MNIST/raw``: where torchvision keeps (and downloads) the idx files."""
    return Path(root) / "MNIST" / "raw"


def _files(root: str | os.PathLike, prefix: str) -> tuple[Path, Path]:
    """(images, labels) idx paths of one split prefix ('train' or 't10k')."""
    raw = mnist_raw_folder(root)
    return raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"


def has_mnist_split(root: str | os.PathLike, prefix: str) -> bool:
    """True when both uncompressed idx files of ``prefix`` exist (torchvision's own existence test)."""
    return all(path.is_file() for path in _files(root, prefix))


def _download(root: str | os.PathLike, prefixes: tuple[str, ...]) -> None:
    """Fetch MNIST through torchvision (``MNIST(root, train=..., download=True)``); errors propagate."""
    for prefix in prefixes:
        MNIST(str(root), train=(prefix == "train"), download=True)


def load_mnist_uint8(root: str | os.PathLike, split: str = "train", download: bool = False) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Load MNIST as uint8 images (N, 28, 28), int64 labels (N,) and the split actually used.

    ``split``: 'train', 'test' or 'all' (train then test). Missing files are first downloaded
    with torchvision when ``download`` is true (fails offline, with torchvision's error). If
    the training files are still missing but the t10k files exist, 'train' and 'all' fall back
    to the 10,000 test images and a ``UserWarning`` says so (once per call); the returned split
    is then 'test'. Nothing usable raises ``DatasetNotFoundError`` (one line).
    """
    if split not in MNIST_PREFIXES:
        raise ValueError(f"split = {split!r}: mnist accepts one of {sorted(MNIST_PREFIXES)}")
    prefixes = MNIST_PREFIXES[split]
    missing = tuple(p for p in prefixes if not has_mnist_split(root, p))
    if missing and download:
        _download(root, missing)
        missing = tuple(p for p in prefixes if not has_mnist_split(root, p))
    used = split
    if missing:
        raw = mnist_raw_folder(root)
        if missing == ("train",) and has_mnist_split(root, "t10k"):
            warnings.warn(
                f"mnist: no training split in {raw} (train-images-idx3-ubyte missing); "
                f"using the 10,000-image test split (t10k) as training data",
                UserWarning,
                stacklevel=4,  # point at the caller of build_image_dataset
            )
            prefixes, used = ("t10k",), "test"
        else:
            wanted = " and ".join(p.name for prefix in missing for p in _files(root, prefix))
            raise DatasetNotFoundError(
                f"mnist: no data in {raw} (expected {wanted}); pass download=true "
                f"or set data.root to the folder that holds MNIST/raw"
            )
    images = [read_image_file(str(_files(root, p)[0])) for p in prefixes]
    labels = [read_label_file(str(_files(root, p)[1])) for p in prefixes]
    return torch.cat(images), torch.cat(labels).to(torch.int64), used
