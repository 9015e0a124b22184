"""Training data streams by dataset name: seeded, resumable (``state_dict``/``load_state_dict``)."""

from __future__ import annotations

from trainables.config import DataConfig, group_of
from trainables.data.toy import ToyStream, mixture_of


def data_shape(cfg: DataConfig) -> tuple[int, ...]:
    """Shape of one sample of the dataset (``(2,)`` for the mixtures, ``(C, H, W)`` for images)."""
    if group_of(cfg.name) == "toy":
        return (2,)
    from trainables.data.images import dataset_shape  # here: torchvision only for image runs

    return tuple(dataset_shape(cfg.name, image_size=cfg.image_size))


def build_stream(cfg: DataConfig, seed: int, device):
    """The infinite, seeded stream of real training batches named by ``cfg``."""
    if group_of(cfg.name) == "toy":
        return ToyStream(mixture_of(cfg), cfg.batch_size, seed, device=device)
    from trainables.data.images import ImageStream, build_image_dataset  # here: torchvision only for image runs

    dataset = build_image_dataset(cfg.name, cfg.root, download=cfg.download, split="train",
                                  image_size=cfg.image_size)
    return ImageStream(dataset, cfg.batch_size, seed, device=device, num_workers=cfg.num_workers,
                       max_items=cfg.max_items, on_device=cfg.on_device)
