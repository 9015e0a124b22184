"""The rank rule shared by best.pt and the leaderboard: which evaluation ranks a trial."""

import math

import pytest

from trainables.ranking import RankRule

# An untrained generator that scores well at step 0, then a trained curve that dips at the end.
CURVE = [(0, 0.9), (100, 0.2), (200, 0.5), (300, 0.7), (400, 0.7), (500, 0.4)]


def _loop_best(curve, after, mode):
    """Reference: the first step reaching the best value among steps >= after."""
    kept = [(s, v) for s, v in curve if s >= after and math.isfinite(v)]
    target = max(v for _, v in kept) if mode == "max" else min(v for _, v in kept)
    return next((s, v) for s, v in kept if v == target)


@pytest.mark.parametrize("after", [1, 100, 350])
@pytest.mark.parametrize("mode", ["max", "min"])
def test_best_never_takes_an_untrained_evaluation(after, mode):
    got = RankRule("best", after=after).select(CURVE, mode)
    assert got == _loop_best(CURVE, after, mode) and got[0] >= after


def test_final_and_last_k_mean():
    assert RankRule("final").select(CURVE, "max") == (500, 0.4)
    step, value = RankRule("last_k_mean", k=3).select(CURVE, "max")
    assert step == 500 and value == pytest.approx((0.7 + 0.7 + 0.4) / 3)


def test_nonfinite_and_early_points_are_skipped():
    rule = RankRule("best", after=100)
    assert rule.select([(0, 1.0), (100, float("nan")), (200, 0.3)], "max") == (200, 0.3)
    assert rule.select([(0, 1.0)], "max") is None


def test_checkpoint_decisions_follow_select():
    """Replaying a curve through is_new_checkpoint saves exactly the step select() ranks."""
    for by in ("best", "final", "last_k_mean"):
        rule, saved, best = RankRule(by, after=100), None, None
        for step, value in CURVE:
            if rule.is_new_checkpoint(step, value, best, "max"):
                saved, best = step, value
        assert saved == rule.select(CURVE, "max")[0], by


def test_bad_rules_name_the_field():
    with pytest.raises(ValueError, match="rank_by = 'mean'"):
        RankRule("mean")
    with pytest.raises(ValueError, match="rank_k"):
        RankRule("last_k_mean", k=0)


@pytest.mark.parametrize("by", ["best", "final", "last_k_mean"])
def test_ranked_evaluation_carries_the_other_metrics_of_its_step(by):
    """ranked() = the evaluation dict at select()'s step, with the ranked value for the metric."""
    evaluations = [{"step": s, "eval/fit": v, "eval/hq": s / 1000} for s, v in CURVE]
    rule = RankRule(by, k=2, after=100)
    step, value = rule.select(CURVE, "max")
    got = rule.ranked(evaluations, "eval/fit", "max")
    assert got == {"step": step, "eval/fit": value, "eval/hq": step / 1000}
    assert RankRule(by, after=10_000).ranked(evaluations, "eval/fit", "max") is None
