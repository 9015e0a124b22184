"""Every GAN of a study in one Tune experiment: one searcher and one scheduler that route each
trial to its own GAN's searcher and scheduler.

A study runs all its GANs' trials at once under one concurrency budget (so the cluster never
drains at the end of one GAN's sweep while the next waits). Each GAN still keeps:

- its own search: its Optuna study (``<study>-<gan>`` in ``optuna.db``, its own seeded sampler,
  its defaults as first point) or its grid, and its equal number of trials;
- its own ASHA brackets: a trial is only compared with trials of the same GAN.

:class:`PerGanSearcher` hands out trials GAN by GAN (the GAN with the fewest trials so far;
study order on ties), so at any moment the running trials are spread over the GANs, and adds to
each suggestion the GAN's constant part of the config (its base run config and name).
:class:`PerGanScheduler` forwards every scheduler event to the scheduler of the trial's GAN,
which sees only its GAN's trials.
"""

from __future__ import annotations

import copy
import pickle
from typing import Callable

import optuna
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher


def trial_gan(trial) -> str:
    """The GAN of a Tune trial (``config["study"]["gan"]``)."""
    return trial.config["study"]["gan"]


def trial_label(trial) -> str:
    """Tune's name and folder name of a trial: ``<gan>_<trial id>`` (e.g. ``mmd_rep_3f2a9c1e``)."""
    return f"{trial_gan(trial)}_{trial.trial_id}"


class FixedPoints(Searcher):
    """A fixed list of trial configs, in order: a GAN's grid (``{"grid_point": point}`` each) or
    its repeats (``search.repeats``: whole configs)."""

    def __init__(self, points: list[dict], metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.points, self.next = list(points), 0

    def suggest(self, trial_id: str):
        if self.next >= len(self.points):
            return Searcher.FINISHED
        self.next += 1
        return copy.deepcopy(self.points[self.next - 1])

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        pass


class PerGanSearcher(Searcher):
    """One Tune searcher over several GANs, each with its own searcher and trial quota.

    ``searchers[gan]`` suggests the searched point of a trial of ``gan`` (an ``OptunaSearch`` or
    a :class:`FixedPoints`); ``constants[gan]`` is merged into it (the GAN's base run config and
    ``study.gan``). Results go back to the searcher that made the trial. Saved and restored with
    the experiment (``save``/``restore``: every sub-searcher's state in one pickle).
    """

    def __init__(self, searchers: dict[str, Searcher], quotas: dict[str, int],
                 constants: dict[str, dict], metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.subs, self.quotas, self.constants = dict(searchers), dict(quotas), constants
        self.suggested = {gan: 0 for gan in self.subs}
        self.owner: dict[str, str] = {}  # trial id -> GAN

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # each sub-searcher was built with its metric, mode and space

    def suggest(self, trial_id: str):
        open_gans = [g for g in self.subs if self.suggested[g] < self.quotas[g]]
        for gan in sorted(open_gans, key=lambda g: self.suggested[g]):  # stable: study order on ties
            point = self.subs[gan].suggest(trial_id)
            if point is None:  # this GAN's searcher cannot suggest now: try the next GAN
                continue
            if point == Searcher.FINISHED:
                self.quotas[gan] = self.suggested[gan]
                continue
            self.suggested[gan] += 1
            self.owner[trial_id] = gan
            config = {**copy.deepcopy(self.constants[gan]), **point}
            config["study"] = {"trial_index": self.suggested[gan], **config.get("study", {})}  # repeats keep theirs
            return config
        return Searcher.FINISHED if all(self.suggested[g] >= self.quotas[g] for g in self.subs) else None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.owner:
            try:
                self.subs[self.owner[trial_id]].on_trial_result(trial_id, result)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # a trial replayed after a driver kill, already told to Optuna: nothing to add

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        if trial_id in self.owner:
            self.subs[self.owner[trial_id]].on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as out:
            pickle.dump(self.__dict__, out)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as inp:
            self.__dict__.update(pickle.load(inp))


class GanView:
    """What one GAN's scheduler sees of the Tune controller: only that GAN's trials, and no
    search algorithm (each GAN's searcher is behind :class:`PerGanSearcher`; a PBT population
    comes from :class:`FixedPoints`, which learns nothing from results, so PBT's refusal of
    searchers, which guards learning searchers against rewritten configs, does not apply).
    Everything else (pausing a trial, scheduling a save) goes to the controller itself."""

    search_alg = None

    def __init__(self, controller, gan: str):
        self._controller, self._gan = controller, gan

    def get_trials(self):
        return [t for t in self._controller.get_trials() if trial_gan(t) == self._gan]

    def __getattr__(self, name):
        return getattr(self._controller, name)


class PerGanScheduler(FIFOScheduler):
    """One Tune scheduler over several GANs: every event goes to the trial's GAN's scheduler
    (``make(gan)`` builds one per GAN: an ``ASHAScheduler`` or a ``PopulationBasedTraining``
    with the study's metric and mode), which sees only its GAN's trials (:class:`GanView`), so
    each GAN has its own rungs and brackets, or its own population. Pending trials start in the
    order Tune created them, then paused ones (FIFO)."""

    def __init__(self, make: Callable[[str], TrialScheduler], gans: list[str], metric: str, mode: str):
        super().__init__()
        self.subs = {gan: make(gan) for gan in gans}
        self._metric, self._mode = metric, mode

    def _sub(self, trial) -> TrialScheduler:
        return self.subs[trial_gan(trial)]

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # each sub-scheduler was built with the study's metric and mode

    def on_trial_add(self, tune_controller, trial) -> None:
        self._sub(trial).on_trial_add(GanView(tune_controller, trial_gan(trial)), trial)

    def on_trial_error(self, tune_controller, trial) -> None:
        self._sub(trial).on_trial_error(GanView(tune_controller, trial_gan(trial)), trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return self._sub(trial).on_trial_result(GanView(tune_controller, trial_gan(trial)), trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._sub(trial).on_trial_complete(GanView(tune_controller, trial_gan(trial)), trial, result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._sub(trial).on_trial_remove(GanView(tune_controller, trial_gan(trial)), trial)

    def debug_string(self) -> str:
        return "\n".join(f"[{gan}] {sub.debug_string()}" for gan, sub in self.subs.items())
