"""The toy / images line is drawn in one place (trainables.data.families.group_of) and followed."""

import pytest

from trainables.config import resolve_config
from trainables.data.families import DATA_FAMILIES, DATA_GROUPS, TOY_DATASETS, group_of
from trainables import metric_names as M
from trainables.evaluation import metric_family
from trainables.gans.axes import FAMILIES, family_group


def test_every_dataset_and_family_has_a_group():
    assert TOY_DATASETS == ("ring8", "grid25", "mixture")
    for dataset, family in DATA_FAMILIES.items():
        assert group_of(dataset) == group_of(family) in DATA_GROUPS
        assert (group_of(dataset) == "toy") == (dataset in TOY_DATASETS)
    assert set(FAMILIES) == set(DATA_FAMILIES.values()) and all(family_group(f) == group_of(f) for f in FAMILIES)
    with pytest.raises(ValueError, match="'imagenet': not a dataset or data family; accepted values are ring8"):
        group_of("imagenet")


@pytest.mark.parametrize("dataset", ["grid25", "mnist", "cifar10"])
def test_runs_and_metrics_follow_the_group(dataset):
    cfg = resolve_config({"gan": "nsgan", "data": {"name": dataset}})
    assert cfg.is_toy == (group_of(dataset) == "toy")
    assert metric_family(cfg) == (M.TOY if group_of(dataset) == "toy" else M.IMAGES)
