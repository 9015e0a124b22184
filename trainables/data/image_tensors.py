"""Image datasets as tensors: uint8 <-> [-1, 1] conversion, in-memory and per-item datasets.

Every dataset here returns ``(image, label)`` with ``image`` a float32 ``(C, H, W)`` tensor in
[-1, 1] and ``label`` an int (-1 where the data has no label: STL-10 unlabeled, CelebA, flat
folders). Each exposes ``image_shape`` (C, H, W) and ``get_uint8(indices)`` giving the exact
uint8 pixels, which is what FID feature extraction (torch-fidelity) consumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader, has_file_allowed_extension
from torchvision.transforms.v2 import functional as TF

from trainables.data.dataset_errors import DatasetNotFoundError

_PREP_CHUNK = 4096  # images resized per chunk when preparing in-memory data (bounds peak memory)


def from_uint8(x: torch.Tensor) -> torch.Tensor:
    """Map uint8 pixels u in [0, 255] to float32 ``u / 127.5 - 1`` in [-1, 1] (any shape)."""
    if x.dtype != torch.uint8:
        raise ValueError(f"x.dtype = {x.dtype}: from_uint8 expects torch.uint8")
    return x.to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Map floats in [-1, 1] to uint8 ``round((x + 1) * 127.5)`` clamped to [0, 255] (any shape).

    Inverse of ``from_uint8`` on its range (exact for all 256 levels). Values outside [-1, 1]
    (a generator's tanh never leaves it, a linear output might) are clamped, not rejected.
    """
    if not torch.is_floating_point(x):
        raise ValueError(f"x.dtype = {x.dtype}: to_uint8 expects a floating-point tensor in [-1, 1]")
    return ((x.detach().to(torch.float32) + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def _as_index(index: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Indices as a 1-D int64 CPU tensor."""
    return torch.as_tensor(index, dtype=torch.int64).reshape(-1).cpu()


def convert_channels_uint8(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert uint8 (N, C, H, W) images to ``channels`` channels.

    1 -> 3 repeats the grey plane; 3 -> 1 is torchvision's ``rgb_to_grayscale`` (ITU-R 601 luma);
    equal counts are returned unchanged. Other combinations raise ValueError.
    """
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        return TF.rgb_to_grayscale(images, num_output_channels=1)
    raise ValueError(f"channels = {channels}: cannot convert {c}-channel images (accepted: 1 or 3)")


def prepare_uint8(images: torch.Tensor, *, pad: int = 0, size: int | None = None, channels: int | None = None) -> torch.Tensor:
    """Preprocess uint8 (N, C, H, W) images in memory: pad, then resize, then convert channels.

    ``pad`` adds that many pixels of value 0 (-1 after scaling: background) on every side;
    ``size`` resizes to ``size x size`` with antialiased bilinear interpolation (skipped when the
    images already have that size); ``channels`` as in ``convert_channels_uint8``. Work is done
    in chunks of 4096 images to bound peak memory.
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images: expected a uint8 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
    if pad:
        images = F.pad(images, (pad, pad, pad, pad), value=0)
    needs_resize = size is not None and tuple(images.shape[-2:]) != (size, size)
    needs_channels = channels is not None and channels != images.shape[1]
    if not (needs_resize or needs_channels):
        return images.contiguous()
    out = []
    for start in range(0, images.shape[0], _PREP_CHUNK):
        chunk = images[start : start + _PREP_CHUNK]
        if needs_resize:
            chunk = TF.resize(chunk, [size, size], antialias=True)
        if needs_channels:
            chunk = convert_channels_uint8(chunk, channels)
        out.append(chunk)
    return torch.cat(out).contiguous()


class TensorImages(Dataset):
    """Images held in memory as uint8 (N, C, H, W); items are ``(from_uint8(image), label)``.

    ``get_batch(indices)`` gathers a whole batch with one indexing op (used by ``ImageStream``,
    so small datasets such as MNIST need no DataLoader workers); ``get_uint8`` returns the raw
    pixels for FID.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | Sequence[int], name: str = "images") -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images: expected a uint8 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64).reshape(-1)
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"labels: {labels.shape[0]} labels for {images.shape[0]} images")
        self.images = images.contiguous()
        self.labels = labels
        self.name = name

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return from_uint8(self.images[index]), int(self.labels[index])

    def get_batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 (B, C, H, W) images in [-1, 1] and int64 (B,) labels for ``indices``."""
        idx = _as_index(indices)
        return from_uint8(self.images[idx]), self.labels[idx]

    def get_uint8(self, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """The stored uint8 (B, C, H, W) pixels for ``indices``."""
        return self.images[_as_index(indices)]


class ToChannels:
    """PIL transform: ``image.convert('L')`` for 1 channel, ``image.convert('RGB')`` for 3 (picklable)."""

    _MODES = {1: "L", 3: "RGB"}  # channel count -> PIL mode

    def __init__(self, channels: int) -> None:
        if channels not in self._MODES:
            raise ValueError(f"channels = {channels!r}: expected one of {sorted(self._MODES)}")
        self.mode = self._MODES[channels]

    def __call__(self, image):
        return image if image.mode == self.mode else image.convert(self.mode)


class PILImages(Dataset):
    """Wraps a dataset of ``(PIL image, target)`` pairs; ``transform`` maps the PIL image to uint8 (C, H, W).

    Items are ``(from_uint8(transform(image)), label)``; a target that is not an int (None,
    attribute tensors, empty lists) becomes label -1. Decoding happens per item, so this is the
    kind of dataset ``ImageStream`` feeds through DataLoader workers.
    """

    def __init__(self, base: Dataset, transform: Callable, image_shape: tuple[int, int, int], name: str = "images") -> None:
        self.base = base
        self.transform = transform
        self._image_shape = tuple(int(s) for s in image_shape)
        self.name = name

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image after the transform."""
        return self._image_shape  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.base)

    def _load_uint8(self, index: int) -> tuple[torch.Tensor, int]:
        image, target = self.base[index]
        pixels = self.transform(image)
        if tuple(pixels.shape) != self._image_shape or pixels.dtype != torch.uint8:
            raise ValueError(
                f"transform: item {index} of {self.name} gave {pixels.dtype} {tuple(pixels.shape)}, "
                f"expected uint8 {self._image_shape}"
            )
        label = int(target) if isinstance(target, (int, np.integer)) else -1
        return pixels, label

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        pixels, label = self._load_uint8(index)
        return from_uint8(pixels), label

    def get_uint8(self, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """The uint8 (B, C, H, W) pixels (after resize/crop) for ``indices``."""
        return torch.stack([self._load_uint8(int(i))[0] for i in _as_index(indices)])


class FlatImageFolder(Dataset):
    """A folder of image files without class subfolders: items are ``(PIL image, -1)``.

    Files are those directly in ``root`` whose extension is one of torchvision's
    ``IMG_EXTENSIONS`` (case-insensitive), sorted by name; they are read with torchvision's
    ``default_loader`` (PIL, RGB).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.files = sorted(
            p for p in self.root.iterdir() if p.is_file() and has_file_allowed_extension(p.name, IMG_EXTENSIONS)
        )
        if not self.files:
            raise DatasetNotFoundError(
                f"folder: no image files ({', '.join(IMG_EXTENSIONS)}) in {self.root}; "
                "set data.root to a folder of images or of class subfolders"
            )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        return default_loader(str(self.files[index])), -1


class UInt8Images(Dataset):
    """A view of an image dataset whose items are uint8 (C, H, W) tensors only (no labels).

    This is the input torch-fidelity expects for real images. ``n=None`` keeps every item in
    order; otherwise ``n`` distinct items are chosen with ``torch.randperm`` from a generator
    seeded with ``seed`` (the same choice as ``real_images(dataset, n, seed)``).
    """

    def __init__(self, dataset: Dataset, n: int | None = None, seed: int = 0) -> None:
        self.dataset = dataset
        self.indices = _choose_indices(len(dataset), n, seed)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        return _uint8_of(self.dataset, self.indices[index : index + 1])[0]


def _choose_indices(size: int, n: int | None, seed: int) -> torch.Tensor:
    """All indices in order (``n=None``) or ``n`` distinct ones from ``randperm`` seeded with ``seed``."""
    if n is None:
        return torch.arange(size)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= size:
        raise ValueError(f"n = {n!r}: must be an int in [1, {size}] (the dataset's size)")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed = {seed!r}: must be an int")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    return torch.randperm(size, generator=generator)[:n]


def _uint8_of(dataset: Dataset, indices: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) images of ``dataset`` at ``indices`` (exact pixels where the dataset has them)."""
    if hasattr(dataset, "get_uint8"):
        return dataset.get_uint8(indices)
    return torch.stack([to_uint8(dataset[int(i)][0]) for i in indices])


def real_images(dataset: Dataset, n: int, seed: int) -> torch.Tensor:
    """``n`` distinct real images as a uint8 (n, C, H, W) CPU tensor, chosen by ``randperm`` seeded with ``seed``.

    Pixels are the dataset's uint8 values after its resize/crop/padding (``get_uint8``), or
    ``to_uint8`` of its float items for datasets without that method.
    """
    indices = _choose_indices(len(dataset), n, seed)
    return _uint8_of(dataset, indices)
