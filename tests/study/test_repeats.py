"""``search.repeats``: after the search, each GAN's top_k configurations retrained with new seeds
as trials of the same study; the leaderboard ranks by the mean over seeds (study.repeats)."""

from __future__ import annotations

import json
import statistics

import pytest
from _cli_run import run_study_file

STUDY = """
name = "rep"
gans = ["mbgan"]
max_concurrent = 2
[run]
steps = 40
seed = 5
[run.data]
name = "ring8"
[run.eval]
every = 20
num_samples = 500
[run.net]
arch = "toy_triplet"  # small nets: the repeats' bookkeeping, not quality
[search]
samples_per_gan = 3
top_k = 2
repeats = 2
[scheduler]
type = "none"
"""


def test_top_k_must_fit_the_trials(tmp_path):
    from study.study_file import StudyError, parse_study

    doc = {"name": "x", "gans": ["mbgan"], "run": {"data": {"name": "ring8"}},
           "search": {"samples_per_gan": 2, "top_k": 3, "repeats": 1}}
    with pytest.raises(StudyError, match="search.top_k = 3: must be <= the trials of mbgan"):
        parse_study(doc)
    doc["search"]["repeats"] = 0  # no repeats: top_k is not used
    parse_study(doc)
    with pytest.raises(StudyError, match="search.repeats"):
        parse_study({**doc, "search": {"repeats": -1}})


def test_best_configuration_is_ranked_by_its_mean_over_seeds():
    """A lucky single seed (c: 0.9, never repeated) and a configuration whose search trial was
    best but whose repeats are poor (a: mean 0.4) lose to the best mean (b: 0.45)."""
    from study.report import _best_configuration

    def t(trial_id, value, repeat_of=None, step=10):
        return {"trial_id": trial_id, "value": value, "repeat_of": repeat_of, "mode": "max", "step": step,
                "steps_trained": 20, "run_id": f"run-{trial_id}"}

    trials = [t("a", 0.5), t("a1", 0.3, "a"), t("a2", 0.4, "a"), t("b", 0.45), t("b1", 0.44, "b"),
              t("b2", 0.46, "b"), t("c", 0.9)]
    row = _best_configuration(trials)
    assert (row["trial_id"], row["value"], row["seeds"]) == ("b2", 0.46, 3)
    assert row["mean"] == pytest.approx(0.45) and row["std"] == pytest.approx(statistics.stdev([0.45, 0.44, 0.46]))
    assert _best_configuration([t("a", 0.5), t("c", 0.9)]) is None  # no repeats: the plain best run ranks
    low = [dict(x, mode="min") for x in trials]  # a minimised metric (FID): the lowest mean wins
    assert _best_configuration(low)["trial_id"] == "a1"


@pytest.mark.slow
def test_top_configurations_are_retrained_with_new_seeds_and_ranked_by_their_mean(tmp_path):
    out, state, client, runs = run_study_file(tmp_path, "rep", STUDY)
    assert "repeats: 4 trials" in out
    search = {r.data.tags["trial_id"]: r for r in runs if "repeat_of" not in r.data.tags}
    repeats = [r for r in runs if "repeat_of" in r.data.tags]
    assert len(search) == 3 and len(repeats) == 4

    def ranked(run):  # best eval/fit after step 0 (the default rank rule), recomputed from the curve
        return max(m.value for m in client.get_metric_history(run.info.run_id, "eval/fit") if m.step > 0)

    values = {t: ranked(r) for t, r in search.items()}
    repeated = {r.data.tags["repeat_of"] for r in repeats}
    assert len(repeated) == 2 and repeated <= set(search)
    # the two repeated configurations are the two best search trials (ties broken either way)
    assert sorted(values[t] for t in repeated) == sorted(values.values())[-2:]
    groups = {}
    for trial_id in repeated:
        mine = [r for r in repeats if r.data.tags["repeat_of"] == trial_id]
        assert sorted(r.data.tags["seed"] for r in mine) == ["6", "7"]  # run.seed + 1, + 2
        original = search[trial_id]
        assert original.data.tags["seed"] == "5"
        assert all(r.data.tags["searched"] == original.data.tags["searched"] for r in mine)  # same configuration
        assert sorted(r.info.run_name for r in mine) == [f"{original.info.run_name} seed {s}" for s in (6, 7)]
        assert all(r.data.tags["stop_reason"] == "completed" for r in mine)
        groups[trial_id] = [original] + mine
    # the leaderboard row: the configuration with the best mean over its 3 seeds, shown by its best run
    means = {t: statistics.fmean(ranked(r) for r in g) for t, g in groups.items()}
    (row,) = json.loads((tmp_path / "studies" / "rep" / "leaderboard.json").read_text())
    assert row["seeds"] == 3 and row["trials"] == 3 and row["repeat_runs"] == 4
    assert row["mean"] == pytest.approx(max(means.values()))
    winner = next(t for t, g in groups.items() if row["run_id"] in {r.info.run_id for r in g})
    assert means[winner] == pytest.approx(row["mean"])
    assert row["std"] == pytest.approx(statistics.stdev(ranked(r) for r in groups[winner]))
    assert row["value"] == max(ranked(r) for r in groups[winner])
    assert len(row["trial_values"]) == 3  # budget curves: the search trials only
    assert "mean ± std (seeds)" in out


def test_top_configurations_follow_the_leaderboard_order_ties_included():
    from study.report import best_first

    def t(trial_id, value, step, mode="max"):
        return {"trial_id": trial_id, "value": value, "mode": mode, "step": step, "steps_trained": step}

    trials = [t("a", 0.1, 5), t("b", 0.3, 9), t("c", 0.3, 4), t("d", 0.2, 1)]
    assert [x["trial_id"] for x in best_first(trials)] == ["c", "b", "d", "a"]  # tie: the earlier step
    assert [x["trial_id"] for x in best_first([t("a", 3, 1, "min"), t("b", 1, 1, "min")])] == ["b", "a"]
