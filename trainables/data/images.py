"""Real image datasets selected by name, read with torchvision's dataset classes and readers.

``build_image_dataset(name, root, ...)`` returns a Dataset of ``(image, label)`` with images
float32 (C, H, W) in [-1, 1] (``u / 127.5 - 1`` of the uint8 pixels) and int labels (-1 where
the data has none). Registered names and their native shapes (``dataset_shape``):

- ``mnist``: 28x28 padded with 2 px of background (-1) to (1, 32, 32), as TripletGAN. Works
  with only the t10k files on disk (see ``mnist_raw``).
- ``cifar10``: (3, 32, 32). ``svhn``: (3, 32, 32) ('extra' is a further split).
- ``stl10``: 96x96 resized to (3, 48, 48), as the repulsive-MMD paper; 'train' is
  torchvision's 'train+unlabeled' (105,000 images, labels -1 for the unlabeled ones).
- ``celeba``: aligned 178x218 faces, centre crop 160x160 then resize to (3, 64, 64)
  (the MMD-GAN line's crop; the spec gives no crop size); labels -1.
- ``folder``: ``root`` is itself a folder of images, either ImageFolder layout (class
  subfolders, labels = class index) or flat (labels -1); shorter side resized to
  ``image_size`` (default 64) then centre-cropped to ``image_size``; RGB unless ``channels=1``.

``root`` and ``download`` mean what they mean for torchvision (``root`` holds ``MNIST/``,
``cifar-10-batches-py/``, ``stl10_binary/``, ``celeba/`` or the SVHN ``.mat`` files). A missing
dataset without ``download`` raises ``DatasetNotFoundError`` (one line naming the path).
Array-backed datasets (mnist, cifar10, svhn, stl10) are kept in memory as uint8
(``TensorImages``); celeba and folder decode per item (``PILImages``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10, STL10, SVHN, CelebA, ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension
from torchvision.transforms import v2

from trainables.data.dataset_errors import DatasetNotFoundError
from trainables.data.image_stream import ImageStream
from trainables.data.image_tensors import (
    FlatImageFolder,
    PILImages,
    TensorImages,
    ToChannels,
    UInt8Images,
    from_uint8,
    prepare_uint8,
    real_images,
    to_uint8,
)
from trainables.data.mnist_raw import MNIST_PREFIXES, load_mnist_uint8

__all__ = [
    "DATASETS",
    "IMAGE_DATASETS",
    "DatasetNotFoundError",
    "ImageDatasetSpec",
    "ImageStream",
    "PILImages",
    "TensorImages",
    "UInt8Images",
    "build_image_dataset",
    "dataset_shape",
    "from_uint8",
    "real_images",
    "to_uint8",
]

CELEBA_CROP = 160  # centre crop of the 178x218 aligned faces before resizing (MMD-GAN / repulsive-MMD practice)
_CHANNELS = (1, 3)  # channel counts a dataset can be converted to


@dataclass(frozen=True)
class ImageDatasetSpec:
    """A registered image dataset.

    ``image_shape``: native (C, H, W) after the standard preprocessing; ``splits``: accepted
    ``split`` values; ``build(root, split, download, size, channels)`` returns the Dataset,
    where ``size``/``channels`` are the resolved output size and channel count.
    """

    name: str
    image_shape: tuple[int, int, int]
    splits: tuple[str, ...]
    build: Callable[[Path, str, bool, int, int], Dataset]


def _not_found(name: str, where: Path) -> DatasetNotFoundError:
    """The one-line error for a dataset whose files are absent at ``where``."""
    return DatasetNotFoundError(
        f"{name}: no data at {where}; pass download=true or set data.root to the folder that holds it"
    )


def _torchvision(name: str, where: Path, download: bool, make: Callable[[], Dataset]) -> Dataset:
    """Build a torchvision dataset, turning 'not found / corrupted' into DatasetNotFoundError.

    Without ``download`` an absent ``where`` fails before torchvision is called; files that exist
    but fail torchvision's md5 check also give DatasetNotFoundError. With ``download`` torchvision
    fetches the files and its own errors (no network, bad checksum) propagate unchanged.
    """
    if not download and not where.exists():
        raise _not_found(name, where)
    try:
        return make()
    except RuntimeError as err:
        if download:
            raise
        raise DatasetNotFoundError(
            f"{name}: files at {where} are incomplete or fail torchvision's integrity check ({err}); "
            "pass download=true to fetch them again"
        ) from err


def _in_memory(name: str, parts: list[tuple[np.ndarray, np.ndarray]], size: int, channels: int, pad: int = 0) -> TensorImages:
    """Concatenate uint8 (N, C, H, W) arrays with their labels, preprocess, wrap as TensorImages."""
    images = torch.cat([torch.from_numpy(np.ascontiguousarray(x)) for x, _ in parts])
    labels = torch.cat([torch.as_tensor(np.asarray(y), dtype=torch.int64).reshape(-1) for _, y in parts])
    return TensorImages(prepare_uint8(images, pad=pad, size=size, channels=channels), labels, name=name)


def _build_mnist(root: Path, split: str, download: bool, size: int, channels: int) -> Dataset:
    """MNIST via ``load_mnist_uint8`` (t10k fallback), padded 2 px to 32x32, then resized if asked."""
    images, labels, _ = load_mnist_uint8(root, split, download)
    return TensorImages(prepare_uint8(images[:, None], pad=2, size=size, channels=channels), labels, name="mnist")


_CIFAR10_SPLITS = {"train": (True,), "test": (False,), "all": (True, False)}  # split -> CIFAR10(train=...)


def _build_cifar10(root: Path, split: str, download: bool, size: int, channels: int) -> Dataset:
    """torchvision ``CIFAR10`` (HWC uint8 arrays) converted to CHW, in memory."""
    where = root / CIFAR10.base_folder
    parts = []
    for train in _CIFAR10_SPLITS[split]:
        ds = _torchvision("cifar10", where, download, lambda: CIFAR10(str(root), train=train, download=download))
        parts.append((ds.data.transpose(0, 3, 1, 2), ds.targets))
    return _in_memory("cifar10", parts, size, channels)


_SVHN_SPLITS = {"train": ("train",), "test": ("test",), "extra": ("extra",), "all": ("train", "test", "extra")}


def _build_svhn(root: Path, split: str, download: bool, size: int, channels: int) -> Dataset:
    """torchvision ``SVHN`` (``<root>/<split>_32x32.mat``, labels 0-9), in memory."""
    parts = []
    for part in _SVHN_SPLITS[split]:
        where = root / SVHN.split_list[part][1]
        ds = _torchvision("svhn", where, download, lambda: SVHN(str(root), split=part, download=download))
        parts.append((ds.data, ds.labels))
    return _in_memory("svhn", parts, size, channels)


_STL10_SPLITS = {"train": ("train+unlabeled",), "test": ("test",), "all": ("train+unlabeled", "test")}


def _build_stl10(root: Path, split: str, download: bool, size: int, channels: int) -> Dataset:
    """torchvision ``STL10`` (96x96), resized in memory to ``size`` (48 by default)."""
    where = root / STL10.base_folder
    parts = []
    for part in _STL10_SPLITS[split]:
        ds = _torchvision("stl10", where, download, lambda: STL10(str(root), split=part, download=download))
        parts.append((ds.data, ds.labels))
    return _in_memory("stl10", parts, size, channels)


def _build_celeba(root: Path, split: str, download: bool, size: int, channels: int) -> Dataset:
    """torchvision ``CelebA`` (no targets), centre crop ``CELEBA_CROP`` then resize, decoded per item."""
    where = root / CelebA.base_folder / "img_align_celeba"
    base = _torchvision("celeba", where, download, lambda: CelebA(str(root), split=split, target_type=[], download=download))
    transform = v2.Compose(
        [ToChannels(channels), v2.CenterCrop(CELEBA_CROP), v2.Resize((size, size), antialias=True), v2.PILToTensor()]
    )
    return PILImages(base, transform, (channels, size, size), name="celeba")


def _has_class_folders(root: Path) -> bool:
    """True when some subfolder of ``root`` holds (at any depth) a file with an image extension."""
    for sub in root.iterdir():
        if sub.is_dir():
            for _, _, files in os.walk(sub):
                if any(has_file_allowed_extension(f, IMG_EXTENSIONS) for f in files):
                    return True
    return False


def _build_folder(root: Path, split: str, download: bool, size: int, channels: int) -> Dataset:
    """ImageFolder layout when class subfolders hold images (then loose top-level files are
    ignored, as ImageFolder does), else a flat folder; shorter side -> ``size``, centre crop.
    ``download`` is meaningless here (nothing to fetch) and is ignored."""
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"folder: no directory at {root} (a folder dataset cannot be downloaded); "
            "set data.root to a folder of images or of class subfolders"
        )
    base = ImageFolder(str(root), allow_empty=True) if _has_class_folders(root) else FlatImageFolder(root)
    transform = v2.Compose(
        [ToChannels(channels), v2.Resize(size, antialias=True), v2.CenterCrop(size), v2.PILToTensor()]
    )
    return PILImages(base, transform, (channels, size, size), name="folder")


IMAGE_DATASETS: dict[str, ImageDatasetSpec] = {
    "mnist": ImageDatasetSpec("mnist", (1, 32, 32), tuple(MNIST_PREFIXES), _build_mnist),
    "cifar10": ImageDatasetSpec("cifar10", (3, 32, 32), tuple(_CIFAR10_SPLITS), _build_cifar10),
    "svhn": ImageDatasetSpec("svhn", (3, 32, 32), tuple(_SVHN_SPLITS), _build_svhn),
    "stl10": ImageDatasetSpec("stl10", (3, 48, 48), tuple(_STL10_SPLITS), _build_stl10),
    "celeba": ImageDatasetSpec("celeba", (3, 64, 64), ("train", "valid", "test", "all"), _build_celeba),
    "folder": ImageDatasetSpec("folder", (3, 64, 64), ("train", "all"), _build_folder),  # 64: default image_size
}
DATASETS: tuple[str, ...] = tuple(sorted(IMAGE_DATASETS))


def _spec(name: str) -> ImageDatasetSpec:
    """The registered spec of ``name``; unknown names raise ValueError listing the valid ones."""
    if name not in IMAGE_DATASETS:
        raise ValueError(f"dataset = {name!r}: expected one of {list(DATASETS)}")
    return IMAGE_DATASETS[name]


def _resolve(spec: ImageDatasetSpec, image_size: int | None, channels: int | None) -> tuple[int, int, int]:
    """(C, H, W) after applying the optional ``image_size`` / ``channels`` overrides."""
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size = {image_size!r}: must be a positive int or None (native size)")
    if channels is not None and channels not in _CHANNELS:
        raise ValueError(f"channels = {channels!r}: expected one of {list(_CHANNELS)} or None (native)")
    c, h, w = spec.image_shape
    if image_size is not None:
        h = w = image_size
    return (channels if channels is not None else c, h, w)


def dataset_shape(name: str, image_size: int | None = None, channels: int | None = None) -> tuple[int, int, int]:
    """(C, H, W) of the images ``build_image_dataset(name, ..., image_size, channels)`` returns.

    Native shapes: mnist (1, 32, 32), cifar10/svhn (3, 32, 32), stl10 (3, 48, 48),
    celeba (3, 64, 64), folder (3, image_size or 64, image_size or 64). Needs no data on disk.
    """
    return _resolve(_spec(name), image_size, channels)


def build_image_dataset(
    name: str,
    root: str | os.PathLike,
    *,
    download: bool = False,  # torchvision's meaning: fetch missing files (needs network)
    split: str = "train",  # 'train' | 'test' | 'all' (+ 'extra' svhn, 'valid' celeba)
    image_size: int | None = None,  # None: the dataset's native size (folder: 64)
    channels: int | None = None,  # None: native (1 for mnist, else 3); 1 or 3 converts
) -> Dataset:
    """Build the dataset registered as ``name``: items ``(float32 (C, H, W) in [-1, 1], int label)``.

    The returned dataset has ``image_shape`` == ``dataset_shape(name, image_size, channels)``
    and ``get_uint8(indices)``. ``image_size`` resizes square images to ``image_size`` square
    after the dataset's own preprocessing (mnist: after the 2 px padding; celeba: after the
    crop; folder: shorter side then centre crop). Unknown names/splits raise ValueError; absent
    files without ``download`` raise DatasetNotFoundError.
    """
    spec = _spec(name)
    if split not in spec.splits:
        raise ValueError(f"split = {split!r}: {name} accepts one of {list(spec.splits)}")
    if not isinstance(download, bool):
        raise ValueError(f"download = {download!r}: must be true or false")
    c, size, _ = _resolve(spec, image_size, channels)
    root_path = Path(os.fspath(root)).expanduser()
    return spec.build(root_path, split, download, size, c)
