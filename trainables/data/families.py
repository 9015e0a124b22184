"""Datasets, their data families (which defaults they get) and the toy / images line.

The one home of that decision: :func:`group_of` says ``"toy"`` or ``"images"`` for a dataset or a
family, and the metrics (evaluators, leaderboard columns), search ranges, GAN presets, data streams
and study checks all ask it. Nothing here imports anything else of the project.
"""

from __future__ import annotations

# Which family of defaults each dataset belongs to (nets, batch size, optimiser settings).
DATA_FAMILIES = {
    "ring8": "toy",
    "grid25": "toy",
    "mixture": "toy",  # a user-defined 2D mixture (data.mixture)
    "mnist": "mnist",
    "cifar10": "image32",
    "svhn": "image32",
    "stl10": "image48",
    "celeba": "image64",
    "folder": "image64",
}
TOY_DATASETS = tuple(name for name, family in DATA_FAMILIES.items() if family == "toy")
DATA_GROUPS = ("toy", "images")  # the 2D mixtures and their PacGAN nets | every image dataset (MNIST too)


def group_of(name: str) -> str:
    """``"toy"`` or ``"images"`` for a dataset name or a data family: the one place that draws the
    line (metrics, search ranges, presets and evaluators all follow it)."""
    family = DATA_FAMILIES.get(name, name)
    if family not in DATA_FAMILIES.values():
        raise ValueError(f"{name!r}: not a dataset or data family; accepted values are "
                         f"{', '.join(dict.fromkeys([*DATA_FAMILIES, *DATA_FAMILIES.values()]))}")
    return "toy" if family == "toy" else "images"
