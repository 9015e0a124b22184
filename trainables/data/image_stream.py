"""A seeded, resumable stream of image batches for training."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from trainables.config import ON_DEVICE
from trainables.data.image_tensors import from_uint8
from trainables.device import to_device

_SUBSET_TAG = 2**31 - 1  # second seed word for the max_items subset (epochs use 0, 1, 2, ...)
HOLD_FRACTION = 0.25  # "auto" holds a set on the GPU only if it takes <= this share of free memory


def _mixed_seed(seed: int, word: int) -> int:
    """A 64-bit generator seed from (seed, word) through numpy's SeedSequence (well mixed, reproducible)."""
    return int(np.random.SeedSequence([seed % 2**64, word]).generate_state(1, dtype=np.uint64)[0])


def _permutation(n: int, seed: int, word: int) -> torch.Tensor:
    """``torch.randperm(n)`` drawn from a private CPU generator seeded with ``_mixed_seed(seed, word)``."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(_mixed_seed(seed, word))
    return torch.randperm(n, generator=generator)


def _positive_int(value, field: str) -> int:
    """``value`` if it is an int >= 1, else ValueError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{field} = {value!r}: must be a positive int")
    return value


class ImageStream:
    """Endless stream of shuffled image batches, reproducible from ``seed`` and resumable.

    Epoch ``e`` visits the dataset in the order ``randperm(N)`` from a private generator seeded
    with (``seed``, ``e``) (mixed by numpy's SeedSequence) and yields ``N // batch_size`` full
    batches; the incomplete last batch is dropped. ``max_items`` restricts the stream to a
    seeded subset of that many items (the first ``max_items`` of a (``seed``, 2**31-1)
    permutation, kept in index order) for smoke tests.

    Loading: datasets with ``get_batch(indices)`` (the in-memory ``TensorImages``: mnist,
    cifar10, svhn, stl10) are indexed directly, whatever ``num_workers`` is (workers would only
    add IPC). Other datasets go through a ``DataLoader`` whose sampler is the rest of the
    current epoch's order (``num_workers`` processes; pinned memory when ``device`` is CUDA).
    Either way the batches depend only on (seed, epoch, position), not on ``num_workers``.

    On a CUDA ``device``, ``on_device`` places an in-memory set (``ON_DEVICE``): ``"auto"`` holds
    its uint8 pixels and labels on the GPU when they take at most ``HOLD_FRACTION`` of the free
    device memory (MNIST: 7.5 MiB), so a batch is one gather on the device, with the epoch's order
    copied once per epoch; otherwise (``"never"``, or too large) each batch's uint8 pixels are
    gathered on the host and copied pinned and non-blocking. ``"always"`` is ``"auto"`` that
    fails with a one-line error when the set does not fit. Pixels become [-1, 1] floats on the
    device by a gather from the 256 levels ``from_uint8`` gives on the host: the CPU path's values
    exactly.

    ``state_dict()`` is ``{"epoch", "position", "seed"}`` with ``position`` the number of items
    of the current epoch already yielded; a new stream over the same dataset with the same
    ``batch_size`` and ``max_items`` that loads it yields exactly the batches the original
    would have yielded next.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        device: str | torch.device = "cpu",
        num_workers: int = 0,  # DataLoader worker processes for per-item datasets (0: main process)
        max_items: int | None = None,  # None: whole dataset
        on_device: str = "auto",  # CUDA only: hold an in-memory set on the GPU (ON_DEVICE)
    ) -> None:
        self.batch_size = _positive_int(batch_size, "batch_size")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed = {seed!r}: must be an int")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers = {num_workers!r}: must be an int >= 0")
        self.dataset = dataset
        self.seed = seed
        self.device = torch.device(device)
        self.num_workers = num_workers
        size = len(dataset)
        if max_items is not None and _positive_int(max_items, "max_items") < size:
            self.indices = _permutation(size, seed, _SUBSET_TAG)[:max_items].sort().values
        else:
            self.indices = torch.arange(size)
        if len(self.indices) < self.batch_size:
            raise ValueError(
                f"batch_size = {batch_size}: larger than the {len(self.indices)} items available (max_items / dataset size)"
            )
        self.batches_per_epoch = len(self.indices) // self.batch_size
        self.items_per_epoch = self.batches_per_epoch * self.batch_size
        self.epoch = 0
        self.position = 0
        self._order: torch.Tensor | None = None  # dataset indices of the current epoch
        self._loader_iter = None  # DataLoader iterator over the rest of the epoch (per-item datasets)
        self.held = self._hold(on_device)  # (uint8 images, labels) on the GPU, or None
        # the 256 float levels of from_uint8, made on the host: a gather on the device gives the CPU
        # path's values exactly (CUDA divides by a scalar through its reciprocal: 1 ulp apart)
        self._levels = to_device(from_uint8(torch.arange(256, dtype=torch.uint8)), self.device)

    def _hold(self, on_device: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The in-memory set's pixels and labels on the CUDA device when ``on_device`` allows it."""
        if on_device not in ON_DEVICE:
            raise ValueError(f"data.on_device = {on_device!r}: accepted values are {', '.join(ON_DEVICE)}")
        if self.device.type != "cuda" or on_device == "never" or not hasattr(self.dataset, "get_batch"):
            return None
        images, labels = self.dataset.images, self.dataset.labels
        need, (free, _) = images.nbytes + labels.nbytes, torch.cuda.mem_get_info(self.device)
        if need > HOLD_FRACTION * free:
            if on_device == "always":
                raise ValueError(f"data.on_device = 'always': the training set takes {need / 2**20:.0f} MiB, more "
                                 f"than {HOLD_FRACTION:.0%} of the {free / 2**20:.0f} MiB free on {self.device}; "
                                 "use 'auto' (pinned host memory when it does not fit) or 'never'")
            return None
        return images.to(self.device), labels.to(self.device)

    @property
    def data_shape(self) -> tuple[int, ...]:
        """(C, H, W) of one image (the dataset's ``image_shape``, else the first item's shape)."""
        shape = getattr(self.dataset, "image_shape", None)
        return tuple(shape) if shape is not None else tuple(self.dataset[0][0].shape)

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """Dataset indices epoch ``epoch`` visits, in order (length ``items_per_epoch``)."""
        perm = _permutation(len(self.indices), self.seed, epoch)
        return self.indices[perm][: self.items_per_epoch]

    def _current_order(self) -> torch.Tensor:
        if self._order is None:  # on the device when the set is held there (one copy per epoch)
            order = self.epoch_order(self.epoch)
            self._order = to_device(order, self.device) if self.held is not None else order
        return self._order

    def _loader_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next batch from a DataLoader over the rest of the epoch (built lazily, dropped at epoch end)."""
        if self._loader_iter is None:
            remaining = self._current_order()[self.position :].tolist()
            loader = DataLoader(
                self.dataset,
                batch_size=self.batch_size,
                sampler=remaining,
                num_workers=self.num_workers,
                drop_last=True,
                pin_memory=self.device.type == "cuda",
            )
            self._loader_iter = iter(loader)
        images, labels = next(self._loader_iter)
        return images, torch.as_tensor(labels, dtype=torch.int64)

    def next_with_labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next batch: float32 (batch_size, C, H, W) images in [-1, 1] and int64 labels, on ``device``."""
        loaded = not hasattr(self.dataset, "get_batch")  # a per-item dataset (never held)
        if not loaded:
            idx = self._current_order()[self.position : self.position + self.batch_size]
        if self.held is not None:  # one gather on the device
            images, labels = self._levels[self.held[0][idx].long()], self.held[1][idx]
        elif loaded:
            images, labels = self._loader_batch()
        elif self.device.type == "cuda":  # uint8 gathered on the host, copied pinned, scaled on the device
            images = self._levels[to_device(self.dataset.get_uint8(idx), self.device).long()]
            labels = to_device(self.dataset.labels[idx], self.device)
        else:
            images, labels = self.dataset.get_batch(idx)
        self.position += self.batch_size
        if self.position >= self.items_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
            self._order, self._loader_iter = None, None
        non_blocking = self.device.type == "cuda"
        return images.to(self.device, non_blocking=non_blocking), labels.to(self.device, non_blocking=non_blocking)

    def next(self) -> torch.Tensor:
        """Next float32 (batch_size, C, H, W) batch in [-1, 1] on ``device`` (labels dropped)."""
        return self.next_with_labels()[0]

    def __iter__(self) -> "ImageStream":
        return self

    def __next__(self) -> torch.Tensor:
        return self.next()

    def state_dict(self) -> dict:
        """``{"epoch": int, "position": int, "seed": int}``: where the stream stands (position in items)."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` (from ``state_dict()``); the seed must equal this stream's."""
        for key in ("epoch", "position", "seed"):
            if key not in state:
                raise ValueError(f"state: missing field {key!r} (expected the dict from ImageStream.state_dict())")
        if int(state["seed"]) != self.seed:
            raise ValueError(f"state['seed'] = {state['seed']}: this stream was built with seed {self.seed}")
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0:
            raise ValueError(f"state['epoch'] = {epoch}: must be >= 0")
        if not 0 <= position <= self.items_per_epoch:
            raise ValueError(f"state['position'] = {position}: must be in [0, {self.items_per_epoch}] for this stream")
        if position == self.items_per_epoch:
            epoch, position = epoch + 1, 0
        self.epoch, self.position = epoch, position
        self._order, self._loader_iter = None, None
