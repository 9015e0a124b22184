"""One sweep for every GAN of a study: trials handed out GAN by GAN within each GAN's quota,
results routed back to the GAN's own searcher, each GAN's own ASHA rungs (study.routing)."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from study.routing import FixedPoints, PerGanScheduler, PerGanSearcher


class Recording(FixedPoints):
    """A grid that records the results it is told."""

    def __init__(self, points):
        super().__init__([{"grid_point": p} for p in points], "eval/fit", "max")
        self.told = []

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.told.append((trial_id, result))


def _grids(quotas):
    subs = {gan: Recording([{"x": i} for i in range(n)]) for gan, n in quotas.items()}
    consts = {gan: {"run": {"gan": gan}, "study": {"gan": gan}} for gan in quotas}
    return subs, PerGanSearcher(subs, quotas, consts, "eval/fit", "max")


def test_trials_alternate_between_gans_within_each_quota():
    subs, searcher = _grids({"a": 2, "b": 3, "c": 1})
    configs = [searcher.suggest(f"t{i}") for i in range(6)]
    assert [c["study"]["gan"] for c in configs] == ["a", "b", "c", "a", "b", "b"]
    assert [c["grid_point"]["x"] for c in configs] == [0, 0, 0, 1, 1, 2]
    assert all(c["run"]["gan"] == c["study"]["gan"] for c in configs)  # the GAN's constants
    assert [c["study"]["trial_index"] for c in configs] == [1, 1, 1, 2, 2, 3]  # k-th trial of its GAN
    assert searcher.suggest("t6") == Searcher.FINISHED


def test_results_go_back_to_the_searcher_that_made_the_trial():
    subs, searcher = _grids({"a": 1, "b": 1})
    searcher.suggest("ta"), searcher.suggest("tb")
    searcher.on_trial_complete("tb", {"eval/fit": 0.5})
    searcher.on_trial_complete("unknown", {"eval/fit": 0.9})  # not ours: ignored
    assert subs["a"].told == [] and subs["b"].told == [("tb", {"eval/fit": 0.5})]


def _optuna(tmp_path, gan):
    space = {"lr": optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)}
    return OptunaSearch(space=space, metric="eval/fit", mode="max",
                        sampler=optuna.samplers.RandomSampler(seed=1),
                        storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/o.db"),
                        study_name=f"s-{gan}")


def test_save_and_restore_keep_counts_and_each_gans_optuna_study(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quotas, consts = {"a": 2, "b": 2}, {"a": {"study": {"gan": "a"}}, "b": {"study": {"gan": "b"}}}
    searcher = PerGanSearcher({g: _optuna(tmp_path, g) for g in quotas}, quotas, consts, "eval/fit", "max")
    first = searcher.suggest("t0")
    searcher.on_trial_complete("t0", {"eval/fit": 0.3, "step": 10})
    searcher.suggest("t1")
    searcher.save(str(tmp_path / "s.pkl"))
    fresh = PerGanSearcher({g: _optuna(tmp_path, g) for g in quotas}, quotas, consts, "eval/fit", "max")
    fresh.restore(str(tmp_path / "s.pkl"))
    assert fresh.suggested == {"a": 1, "b": 1} and fresh.owner == {"t0": "a", "t1": "b"}
    assert [fresh.suggest(f"t{i}")["study"]["gan"] for i in (2, 3)] == ["a", "b"]
    assert fresh.suggest("t4") == Searcher.FINISHED
    study_a = optuna.load_study(study_name="s-a", storage=f"sqlite:///{tmp_path}/o.db")
    assert [t.params["lr"] for t in study_a.trials][0] == first["lr"]
    assert study_a.trials[0].value == 0.3


def _trial(trial_id, gan):
    return SimpleNamespace(trial_id=trial_id, config={"study": {"gan": gan}})


def _asha(gan=None):
    return ASHAScheduler(time_attr="step", metric="eval/fit", mode="max", max_t=100,
                         grace_period=10, reduction_factor=2)


def test_each_gan_has_its_own_asha_rungs():
    """A weak GAN's first trial at a rung is not judged against a strong GAN's trials (a shared
    ASHA would stop it)."""
    strong, weak = _trial("s", "strong"), _trial("w", "weak")
    routed = PerGanScheduler(_asha, ["strong", "weak"], "eval/fit", "max")
    shared = _asha()
    decisions = {}
    for name, scheduler in (("routed", routed), ("shared", shared)):
        for t in (strong, weak):
            scheduler.on_trial_add(None, t)
        scheduler.on_trial_result(None, strong, {"step": 10, "eval/fit": 0.9})
        decisions[name] = scheduler.on_trial_result(None, weak, {"step": 10, "eval/fit": 0.1})
    assert decisions == {"routed": TrialScheduler.CONTINUE, "shared": TrialScheduler.STOP}
    routed.on_trial_complete(None, weak, {"step": 10, "eval/fit": 0.1})
    assert "w" not in routed.subs["weak"]._trial_info and "s" in routed.subs["strong"]._trial_info
