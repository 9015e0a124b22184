"""Budget curves (issue 13, item 3): the closed-form expected best of k trials equals the average
over every ordered draw of k trials with replacement, enumerated here; the bootstrap band."""

from __future__ import annotations

import itertools
import statistics

import pytest

from study.budget import budget_curve, budget_curves, expected_best

VALUES = [0.12, 0.55, 0.31, 0.55, 0.02]


def _enumerated(values, k, pick):
    """Mean of pick(draw) over all len(values)**k equally likely ordered draws."""
    return statistics.fmean(pick(d) for d in itertools.product(values, repeat=k))


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("mode", ["max", "min"])
def test_expected_best_matches_exhaustive_enumeration(k, mode):
    pick = max if mode == "max" else min
    exact = _enumerated(VALUES, k, pick)
    assert expected_best(VALUES, k, mode) == pytest.approx(exact, abs=1e-12)
    assert budget_curve(VALUES, mode, reps=50)["mean"][k - 1] == pytest.approx(exact, abs=1e-12)


def test_curve_improves_with_k_and_band_brackets_it():
    c = budget_curve(VALUES, "max", reps=500)
    assert c["k"] == [1, 2, 3, 4, 5] and c["n"] == 5
    assert c["mean"][0] == pytest.approx(statistics.fmean(VALUES))  # k = 1: the mean trial
    assert all(a <= b + 1e-12 for a, b in zip(c["mean"], c["mean"][1:]))
    assert all(lo <= m <= hi for lo, m, hi in zip(c["lo"], c["mean"], c["hi"]))
    assert c["hi"][0] - c["lo"][0] > 0.05  # five scattered trials: an uncertain k = 1
    flat = budget_curve([0.4] * 6, "min", reps=100)
    for key in ("lo", "hi", "mean"):  # every trial equal: no spread (up to rounding of the sums)
        assert flat[key] == pytest.approx([0.4] * 6), key
    fid = budget_curve([30.0, 80.0, 50.0], "min", reps=500)  # lower is better: the band flips
    assert fid["mean"][-1] < fid["mean"][0] and all(lo <= hi for lo, hi in zip(fid["lo"], fid["hi"]))


def test_curves_per_leaderboard_row_count_excluded_trials():
    rows = [{"gan": "a", "mode": "max", "trials": 4, "trial_values": [0.1, 0.2, 0.3]},
            {"gan": "b", "mode": "max", "trials": 2, "trial_values": []}]
    curves = budget_curves(rows)
    assert list(curves) == ["a"] and curves["a"]["excluded"] == 1 and curves["a"]["n"] == 3
