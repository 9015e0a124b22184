"""A study's sweep: every GAN's trials in one Ray Tune experiment, under one concurrency budget.

- search: per GAN, ``OptunaSearch`` over the GAN's define-by-run space (``GanSpec.space``), the
  paper defaults as first point, a seeded TPE (or random) sampler, persisted in ``optuna.db``
  (keys the study file's ``[run]`` sets are pinned: in every trial, never searched)
  under the study name ``<study>-<gan>`` (a Pareto search, ``search.metrics``: one Optuna
  objective per metric, multi-objective TPE); or, for grid studies, the GAN's listed points. The
  GANs' searchers sit behind one :class:`~study.routing.PerGanSearcher` (each GAN its equal
  quota of trials, handed out in turn) wrapped in a ``ConcurrencyLimiter`` of
  ``max_concurrent`` trials for the whole study (default: the trials the cluster's nodes hold);
- scheduler: per GAN, ``ASHAScheduler(time_attr="step")`` (its own rungs), Population Based
  Training (``study.pbt``: its own population, started from its defaults and random draws of
  its space instead of a searcher), or FIFO;
- trainable: ``tune.with_resources(train_gan, {cpu, gpu})``, placed by Ray across the nodes;
  actors are reused (a finished trial's worker process takes the next trial: no process start
  and imports between trials); trials are named ``<gan>_<trial id>``;
- checkpoints: the 2 best by the study metric (+ the latest; PBT: all of them), retries from
  the last one.

The experiment lives in ``<tune_storage>/sweep/``. An interrupted sweep is restored with
``Tuner.restore(resume_unfinished=True, resume_errored=True)`` (``restart_errored`` would crash
OptunaSearch), after placeholders are put where Tune deleted a checkpoint its last snapshot names
(``study.reconcile.mark_deleted_checkpoints``).
"""

from __future__ import annotations

import warnings
import zlib

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

import search_spaces
from study import console, pbt, tracking
from study.callbacks import TrialRunCloser, progress_reporter
from study.cluster import trial_slots
from study.reconcile import mark_deleted_checkpoints, reconcile_sweep, remove_dir
from study.routing import FixedPoints, PerGanScheduler, PerGanSearcher, trial_label
from study.study_file import StudyFile
from study.trainable import train_gan

SWEEP_DIR = "sweep"  # the Tune experiment of a study, under its tune_storage


class StudyInterrupted(RuntimeError):
    """The driver was interrupted (Ctrl-C / SIGINT / SIGUSR1); the study can be resumed."""


class TrackingStoreDown(RuntimeError):
    """The MLflow tracking store stopped answering for longer than MLflow's retries wait; what
    was recorded is kept and ``study resume`` finishes the study once the store answers."""


def sampler_seed(study: StudyFile, gan: str) -> int:
    """The sampler seed of one GAN's search: ``search.seed`` + a stable hash of the GAN name, so
    GANs sharing parameter names (the TTUR axes) do not all draw the same values."""
    return (study.search.seed + zlib.crc32(gan.encode())) % (2**31)


def _sampler(study: StudyFile, gan: str):
    """Seeded Optuna sampler. TPE: multivariate with ``group=True`` (conditional spaces),
    ``constant_liar`` (parallel trials), random start on a third of the samples (2..10)."""
    seed = sampler_seed(study, gan)
    if study.search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=max(2, min(10, study.samples // 3)),
            multivariate=True, group=True, constant_liar=True)


def _trainable(study: StudyFile):
    return tune.with_resources(train_gan, {"cpu": study.resources.cpu, "gpu": study.resources.gpu})


def param_space(study: StudyFile, state: dict) -> dict:
    """The part of every trial config shared by all GANs (the searcher adds the GAN's part); its
    ``study`` entry is the shared part of a :class:`~study.trial_spec.TrialStudy` (metric and mode
    resolved here, once)."""
    metric, mode = study.objective
    return {"study": {"tracking_uri": state["tracking_uri"], "experiment_id": state["experiment_id"],
                      "parent_run_id": state["parent_run_id"], "study_name": study.name,
                      "loss_every": study.mlflow.loss_every, "flush_every": study.mlflow.flush_every,
                      "metric": metric, "mode": mode, "rank": study.rank_rule().to_dict(),
                      "objectives": [list(o) for o in study.objectives] if study.pareto else [],
                      "scheduler": study.scheduler.type}}


def gan_constants(study: StudyFile, gan: str) -> dict:
    """The constant part of the trial configs of ``gan``: its base run config, its name and its
    search kind (merged into every suggestion of its searcher). An Optuna search's base leaves
    out the keys the GAN's space owns (``search_spaces.trial_base``): the worker merges the
    suggested point over it, a switched-off conditional key taking its default."""
    grid = study.grid_points(gan) is not None
    base = study.base_run(gan)
    return {"run": base if grid else search_spaces.trial_base(base),
            "study": {"gan": gan, "search": "grid" if grid else "optuna"}}


def _gan_searcher(study: StudyFile, gan: str, metric: str, mode: str):
    points = study.grid_points(gan)
    if points is not None:
        return FixedPoints([{"grid_point": p} for p in points], metric, mode)
    storage = optuna.storages.RDBStorage(study.optuna_storage)
    if study.pareto:  # Optuna gets every objective (Ray's OptunaSearch: lists of metrics and modes)
        metric, mode = [m for m, _ in study.objectives], [d for _, d in study.objectives]
    return OptunaSearch(
        space=search_spaces.bind_space(gan, study.family, study.pinned(gan)), metric=metric, mode=mode,
        points_to_evaluate=[study.default_point(gan)],
        sampler=_sampler(study, gan), storage=storage, study_name=f"{study.name}-{gan}")


def max_concurrent(study: StudyFile) -> int:
    """Trials at once for the whole study: ``max_concurrent``, or the trials the cluster's
    alive nodes can hold at the study's per-trial resources (at least 1)."""
    return study.max_concurrent or max(1, trial_slots(study.resources.cpu, study.resources.gpu))


def make_tuner(study: StudyFile, state: dict, name: str, searcher, scheduler, planned: dict[str, int],
               keep: int | None = 2):
    """A Tuner of the study's trials (``planned``: GAN -> trials) in ``<tune_storage>/<name>/``:
    ``searcher`` behind the study-wide ConcurrencyLimiter, the trials' MLflow runs closed by the
    driver, the 2 best checkpoints kept (``keep``; + the latest), ``max_failures`` retries,
    ``<gan>_<trial id>`` names; the compact console view, or Tune's table with ``--verbose``."""
    metric, mode = study.objective
    closer = TrialRunCloser(state["tracking_uri"], state["experiment_id"], state["parent_run_id"],
                            metric, mode, study.max_steps, study.max_t)
    if console.verbose():
        shown = {"callbacks": [closer], "progress_reporter": progress_reporter(study, metric), "verbose": 1}
    else:
        view = console.ConsoleView(metric, mode, study.max_steps, planned)
        shown = {"callbacks": [closer, view], "verbose": 0}
    run_config = tune.RunConfig(
        name=name, storage_path=study.tune_storage,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=keep, checkpoint_score_attribute=metric,
                                                checkpoint_score_order=mode),
        failure_config=tune.FailureConfig(max_failures=study.max_failures), **shown)
    tune_config = tune.TuneConfig(
        metric=metric, mode=mode, search_alg=ConcurrencyLimiter(searcher, max_concurrent(study)),
        scheduler=scheduler, num_samples=sum(planned.values()), reuse_actors=True,  # no process start + imports per trial
        trial_name_creator=trial_label, trial_dirname_creator=trial_label)
    return tune.Tuner(_trainable(study), param_space=param_space(study, state),
                      tune_config=tune_config, run_config=run_config)


def build_tuner(study: StudyFile, state: dict):
    """The Tuner of the study's search sweep (see the module docstring)."""
    metric, mode = study.objective
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if study.population_based:
        population = {gan: pbt.initial_population(study, gan, sampler_seed(study, gan)) for gan in study.gans}
        searchers = {gan: FixedPoints(population[gan], metric, mode) for gan in study.gans}
    else:
        searchers = {gan: _gan_searcher(study, gan, metric, mode) for gan in study.gans}
    searcher = PerGanSearcher(searchers, {gan: expected_trials(study, gan) for gan in study.gans},
                              {gan: gan_constants(study, gan) for gan in study.gans}, metric, mode)
    if study.scheduler.type == "asha":
        def make(gan):
            return ASHAScheduler(time_attr="step", metric=metric, mode=mode, max_t=study.max_t,
                                 grace_period=study.grace_period,
                                 reduction_factor=study.scheduler.reduction_factor)
    elif study.population_based:
        def make(gan):
            return pbt.make_pbt(study, gan, metric, mode, population[gan])
    else:
        def make(gan):
            return FIFOScheduler()
    return make_tuner(study, state, SWEEP_DIR, searcher, PerGanScheduler(make, list(study.gans), metric, mode),
                      {gan: expected_trials(study, gan) for gan in study.gans}, keep=pbt.KEEP_CHECKPOINTS if study.population_based else 2)


def expected_trials(study: StudyFile, gan: str) -> int:
    points = study.grid_points(gan)
    return study.samples if points is None else len(points)


def total_trials(study: StudyFile) -> int:
    return sum(expected_trials(study, gan) for gan in study.gans)


def sweep_complete(results, expected: int) -> bool:
    """True when the sweep ran all its trials to a final status (TERMINATED or ERROR), i.e. it
    was not interrupted (``ResultGrid`` counts)."""
    return len(results) >= expected and results.num_terminated + results.num_errors == len(results)


def sweep_trial_ids(results) -> set[str]:
    """Ids of every trial of a finished sweep (from its saved experiment state, so trials that
    never reported are included)."""
    analysis = tune.ExperimentAnalysis(results.experiment_path, storage_filesystem=results.filesystem)
    return {trial.trial_id for trial in analysis.trials}


def restored_or_new(study: StudyFile, state: dict, name: str, resume: bool, build):
    """The Tuner of ``<tune_storage>/<name>/``: restored when resuming an experiment Tune can
    restore, else ``build()`` (an experiment that never saved a restorable state is started
    again, its leftover MLflow runs closed)."""
    exp_dir = f"{study.tune_storage}/{name}"
    if resume and tune.Tuner.can_restore(exp_dir):
        print(f"restoring the interrupted {'sweep' if name == SWEEP_DIR else name} from {exp_dir}", flush=True)
        mark_deleted_checkpoints(exp_dir)
        return tune.Tuner.restore(exp_dir, trainable=_trainable(study), param_space=param_space(study, state),
                                  resume_unfinished=True, resume_errored=True)
    if remove_dir(exp_dir):
        tracking.kill_running(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])
    return build()


def run_sweep(study: StudyFile, state: dict, *, resume: bool) -> None:
    """Run (or restore and finish) the study's sweep; raises StudyInterrupted if cut short."""
    tuner = restored_or_new(study, state, SWEEP_DIR, resume, lambda: build_tuner(study, state))
    metric, mode = study.objective
    quotas = ", ".join(f"{gan} {expected_trials(study, gan)}" for gan in study.gans)
    print(f"sweep: {total_trials(study)} trials ({quotas}), {max_concurrent(study)} at once, "
          f"metric {metric} ({mode})"
          + (f", Pareto over {', '.join(m for m, _ in study.objectives)}" if study.pareto else "")
          + f", {study.max_steps} steps max, scheduler {study.scheduler.type}",
          flush=True)
    results = tuner.fit()
    if not sweep_complete(results, total_trials(study)):
        raise StudyInterrupted(study.name)
    ids = sweep_trial_ids(results)
    for gan in study.gans:
        reconcile_sweep(study, gan, state, ids)
