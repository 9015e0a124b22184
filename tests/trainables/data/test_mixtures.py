"""User-defined 2D mixtures: specs, one-line errors, sampling, measures and plots on them."""

import math

import numpy as np
import pytest
import torch

from trainables.config import resolve_config

from trainables.schema import ConfigError
from trainables.data.toy import MIXTURES, mixture_from_spec
from trainables.evaluation import build_evaluator
from trainables.plots import scatter_plot
from trainables.loop import GanRun
from trainables.metrics.toy import toy_measures


def test_ring_and_grid_specs_rebuild_the_registered_mixtures():
    ring = mixture_from_spec({"kind": "ring", "count": 8, "radius": 1.0, "std": 0.01})
    grid = mixture_from_spec({"kind": "grid", "size": 5, "spacing": 2.0, "std": 0.05})
    assert ring.means == MIXTURES["ring8"].means and ring.std == 0.01
    assert grid.means == MIXTURES["grid25"].means and grid.std == 0.05


def test_means_spec():
    mix = mixture_from_spec({"kind": "means", "means": [[0, 0], [3, 1], [-2, 5]], "std": 0.2})
    assert mix.num_modes == 3 and mix.means[1] == (3.0, 1.0)


@pytest.mark.parametrize("spec, field", [
    ({"kind": "means", "means": [], "std": 0.1}, "data.mixture.means"),
    ({"kind": "means", "means": [[0, float("nan")]], "std": 0.1}, "data.mixture.means"),
    ({"kind": "means", "means": [[0, 1, 2]], "std": 0.1}, "data.mixture.means"),
    ({"kind": "ring", "count": 8, "radius": 1.0, "std": 0.0}, "data.mixture.std"),
    ({"kind": "ring", "count": 8, "radius": 1.0, "std": -1}, "data.mixture.std"),
    ({"kind": "grid", "size": 5, "spacing": 2.0, "std": float("inf")}, "data.mixture.std"),
    ({"kind": "grid", "size": 0, "spacing": 2.0, "std": 0.1}, "data.mixture.size"),
    ({"kind": "grid", "size": 5, "std": 0.1}, "data.mixture.spacing"),
    ({"kind": "star", "std": 0.1}, "data.mixture.kind"),
    ({"kind": "ring", "count": 8, "radius": 1.0, "std": 0.1, "colour": 1}, "data.mixture.colour"),
])
def test_bad_mixtures_are_one_line_errors(spec, field):
    with pytest.raises(ConfigError) as info:
        resolve_config({"gan": "nsgan", "data": {"name": "mixture", "mixture": spec}})
    message = str(info.value)
    assert message.startswith(field) and "\n" not in message


def test_mixture_needs_its_spec_and_only_with_its_name():
    with pytest.raises(ConfigError, match="^data.mixture: missing"):
        resolve_config({"gan": "nsgan", "data": {"name": "mixture"}})
    with pytest.raises(ConfigError, match="^data.mixture: only used"):
        resolve_config({"gan": "nsgan", "data": {"name": "ring8", "mixture": {"kind": "ring"}}})


def test_a_run_trains_samples_and_measures_on_a_user_mixture(tmp_path):
    spec = {"kind": "means", "means": [[-3, 0], [3, 0], [0, 3]], "std": 0.1}
    run = GanRun({"gan": "mmd_rep", "data": {"name": "mixture", "mixture": spec, "batch_size": 64},
                  "device": "cpu", "eval": {"num_samples": 300}})
    real = run.stream.next()
    assert real.shape == (64, 2)
    nearest = torch.cdist(real, torch.tensor(spec["means"], dtype=torch.float32)).min(1).values
    assert (nearest < 0.6).all()  # every real point is drawn around one of the user's means
    run.train(3)
    evaluator = build_evaluator(run)
    metrics = evaluator.evaluate(run)
    assert {"eval/fit", "eval/modes_20", "eval/hq"} <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values())
    png = evaluator.save_samples(run, tmp_path / "s.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    # real draws from the mixture cover its 3 modes in balance
    true = toy_measures(run.stream.sample(3000), evaluator.mixture)
    assert true["modes_20"] == 3 and true["fit"] > 0.9
    assert scatter_plot(run.stream.sample(50).cpu(), evaluator.mixture, "t", tmp_path / "t.png").exists()


def test_mixture_round_trips_through_the_dumped_config():
    cfg = resolve_config({"gan": "nsgan", "data": {"name": "mixture",
                                                   "mixture": {"kind": "ring", "count": 5, "radius": 2, "std": 0.05}}})
    again = resolve_config(cfg.to_dict())
    assert again.data == cfg.data and np.isfinite(again.data.mixture["radius"])
