"""Improved precision / recall (k = 3): torch-fidelity's computation against a loop reference,
its meaning on 2D mixtures, and the evaluators logging it."""

import math

import pytest
import torch

from trainables.data.toy import ToyStream, get_mixture
from trainables.metrics.prc import precision_recall


def loop_precision_recall(fake, real, k):
    """Kynkaanniemi et al. 2019, written out: a sample is inside a set's manifold when it lies
    within the k-NN radius (k-th nearest other member) of some member of that set."""
    def radii(points):
        out = []
        for i, p in enumerate(points):
            dists = sorted(math.dist(p, q) for j, q in enumerate(points) if j != i)
            out.append(dists[k - 1])
        return out

    def inside(samples, members):
        r = radii(members)
        return sum(any(math.dist(s, m) <= r[j] for j, m in enumerate(members)) for s in samples) / len(samples)

    fake, real = fake.tolist(), real.tolist()
    return inside(fake, real), inside(real, fake)


@pytest.mark.parametrize("k", [1, 3])
def test_matches_loop_reference(k):
    gen = torch.Generator().manual_seed(k)
    fake = torch.randn(40, 3, generator=gen, dtype=torch.float64) * 1.5 + 0.5
    real = torch.randn(35, 3, generator=gen, dtype=torch.float64)
    got = precision_recall(fake, real, neighborhood=k)
    want = loop_precision_recall(fake.float().double(), real.float().double(), k)
    assert (got["precision"], got["recall"]) == pytest.approx(want, abs=1e-6)


def test_mixture_cases_separate_sharp_from_diverse():
    """On grid25: a near-perfect sample has both high; a one-mode collapse is precise with no
    recall; a uniform blob over the square has no precision."""
    mix = get_mixture("grid25")
    real = ToyStream(mix, 2500, 1).sample(2500)
    good = precision_recall(ToyStream(mix, 2500, 2).sample(2500), real)
    collapse = precision_recall(real[:1] + mix.std * torch.randn(2500, 2), real)
    blob = precision_recall(torch.rand(2500, 2) * 10 - 5, real)
    assert good["precision"] > 0.9 and good["recall"] > 0.9
    assert collapse["precision"] > 0.8 and collapse["recall"] < 0.1
    assert blob["precision"] < 0.1


def test_non_finite_points_count_against_precision_and_small_sets_score_zero():
    real = ToyStream(get_mixture("ring8"), 500, 1).sample(500)
    fake = ToyStream(get_mixture("ring8"), 500, 2).sample(500)
    clean = precision_recall(fake, real)
    fake[::2] = float("nan")
    fake[1] = float("inf")
    dirty = precision_recall(fake, real)
    assert all(math.isfinite(v) for v in dirty.values())
    assert dirty["precision"] <= 0.5 * clean["precision"] + 1e-9
    assert precision_recall(torch.full((10, 2), float("nan")), real) == {"precision": 0.0, "recall": 0.0}
    with pytest.raises(ValueError, match="shapes"):
        precision_recall(torch.zeros(5, 3), real)
    with pytest.raises(ValueError, match="neighborhood"):
        precision_recall(fake, real[:3])


def test_toy_runs_log_precision_and_recall_and_the_switch_turns_them_off():
    from trainables.evaluation import build_evaluator
    from trainables.loop import GanRun

    base = {"gan": "nsgan", "data": {"name": "ring8"}, "device": "cpu", "eval": {"num_samples": 300}}
    on = build_evaluator(GanRun(base)).evaluate(GanRun(base))
    assert 0.0 <= on["eval/precision"] <= 1.0 and 0.0 <= on["eval/recall"] <= 1.0
    off_cfg = {**base, "eval": {"num_samples": 300, "prc": False}}
    off = build_evaluator(GanRun(off_cfg)).evaluate(GanRun(off_cfg))
    assert "eval/precision" not in off and "eval/recall" not in off
    assert {k: v for k, v in on.items() if k not in ("eval/precision", "eval/recall")} == off
