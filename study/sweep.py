"""One GAN's sweep as a Ray Tune Tuner: Optuna search (or a grid), ASHA, checkpoints, restore.

- search: ``OptunaSearch`` over the GAN's define-by-run space (``GanSpec.space``), the paper
  defaults as first point, a seeded TPE (or random) sampler, persisted in ``optuna.db`` under
  the study name ``<study>-<gan>``, wrapped in a ``ConcurrencyLimiter``; or, for grid studies,
  ``tune.grid_search`` over the listed points;
- scheduler: ``ASHAScheduler(time_attr="step")`` or FIFO;
- trainable: ``tune.with_resources(train_gan, {cpu, gpu})``;
- checkpoints: the 2 best by the primary metric (+ the latest), retries from the last one.

An interrupted sweep is restored with ``Tuner.restore(resume_unfinished=True,
resume_errored=True)`` (``restart_errored`` would crash OptunaSearch).
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
from study import tracking
from study.callbacks import TrialRunCloser, progress_reporter
from study.reconcile import reconcile_sweep, remove_dir
from study.study_file import StudyFile
from study.trainable import train_gan
from trainables.config import resolve_config
from trainables.evaluation import optimised_metric


class StudyInterrupted(RuntimeError):
    """The driver was interrupted (Ctrl-C / SIGINT / SIGUSR1); the study can be resumed."""


def sampler_seed(study: StudyFile, gan: str) -> int:
    """The sampler seed of one GAN's sweep: ``search.seed`` + a stable hash of the GAN name, so
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


def param_space(study: StudyFile, gan: str, state: dict) -> dict:
    """The constant part of every trial config of ``gan`` (+ the grid for grid studies)."""
    points = study.grid_points(gan)
    space = {"run": study.base_run(gan),
             "study": {"tracking_uri": state["tracking_uri"], "experiment_id": state["experiment_id"],
                       "parent_run_id": state["parent_run_id"], "study_name": study.name, "gan": gan,
                       "search": "optuna" if points is None else "grid",
                       "loss_every": study.mlflow.loss_every, "flush_every": study.mlflow.flush_every,
                       "metric": study.search.metric, "rank": study.rank_rule().to_dict()}}
    if points is not None:
        space["grid_point"] = tune.grid_search(points)
    return space


def metric_of(study: StudyFile, gan: str) -> tuple[str, str]:
    """(metric, mode) of the sweep: ``search.metric`` or the dataset's primary metric."""
    return optimised_metric(resolve_config(study.base_run(gan)), study.search.metric)


def build_tuner(study: StudyFile, gan: str, state: dict):
    """The Tuner of one GAN's sweep (see the module docstring)."""
    metric, mode = metric_of(study, gan)
    space = param_space(study, gan, state)
    grid = "grid_point" in space
    if grid:
        search_alg, num_samples, max_concurrent = None, 1, study.max_concurrent
    else:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = optuna.storages.RDBStorage(f"sqlite:///{study.study_dir.resolve()}/optuna.db")
        searcher = OptunaSearch(
            space=search_spaces.bind_space(gan, study.family), metric=metric, mode=mode,
            points_to_evaluate=[search_spaces.default_point(gan, study.family)],
            sampler=_sampler(study, gan), storage=storage, study_name=f"{study.name}-{gan}")
        search_alg = ConcurrencyLimiter(searcher, max_concurrent=study.max_concurrent)
        num_samples, max_concurrent = study.samples, None
    if study.scheduler.type == "asha":
        scheduler = ASHAScheduler(time_attr="step", max_t=study.max_t,
                                  grace_period=study.grace_period,
                                  reduction_factor=study.scheduler.reduction_factor)
    else:
        scheduler = FIFOScheduler()
    reporter = progress_reporter(study, gan, metric, mode)
    closer = TrialRunCloser(state["tracking_uri"], state["experiment_id"], state["parent_run_id"],
                            gan, metric, mode, study.max_steps, study.max_t)
    run_config = tune.RunConfig(
        name=gan, storage_path=study.tune_storage,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=metric,
                                                checkpoint_score_order=mode),
        failure_config=tune.FailureConfig(max_failures=study.max_failures),
        callbacks=[closer], progress_reporter=reporter, verbose=1)
    tune_config = tune.TuneConfig(metric=metric, mode=mode, search_alg=search_alg,
                                  scheduler=scheduler, num_samples=num_samples,
                                  max_concurrent_trials=max_concurrent, reuse_actors=False)
    return tune.Tuner(_trainable(study), param_space=space, tune_config=tune_config,
                      run_config=run_config)


def expected_trials(study: StudyFile, gan: str) -> int:
    points = study.grid_points(gan)
    return study.samples if points is None else len(points)


def sweep_complete(results, expected: int) -> bool:
    """True when the sweep ran all its trials to a final status (TERMINATED or ERROR), i.e. it
    was not interrupted (``ResultGrid`` counts)."""
    return len(results) >= expected and results.num_terminated + results.num_errors == len(results)


def sweep_trial_ids(results) -> set[str]:
    """Ids of every trial of a finished sweep (from its saved experiment state, so trials that
    never reported are included)."""
    analysis = tune.ExperimentAnalysis(results.experiment_path, storage_filesystem=results.filesystem)
    return {trial.trial_id for trial in analysis.trials}


def run_sweep(study: StudyFile, gan: str, state: dict, *, resume: bool) -> None:
    """Run (or restore and finish) the sweep of one GAN; raises StudyInterrupted if cut short."""
    exp_dir = f"{study.tune_storage}/{gan}"
    if resume and tune.Tuner.can_restore(exp_dir):
        print(f"[{gan}] restoring the interrupted sweep from {exp_dir}", flush=True)
        tuner = tune.Tuner.restore(exp_dir, trainable=_trainable(study),
                                   param_space=param_space(study, gan, state),
                                   resume_unfinished=True, resume_errored=True)
    else:
        if remove_dir(exp_dir):  # started but never saved a restorable state: start it again
            for run in tracking.children(state["tracking_uri"], state["experiment_id"],
                                         state["parent_run_id"], gan):
                if run.info.status == "RUNNING":
                    tracking.close_run(state["tracking_uri"], run.info.run_id, "KILLED", "killed",
                                       curve=False)
        tuner = build_tuner(study, gan, state)
    metric, mode = metric_of(study, gan)
    print(f"[{gan}] sweep: {expected_trials(study, gan)} trials, metric {metric} ({mode}), "
          f"{study.max_steps} steps max, scheduler {study.scheduler.type}", flush=True)
    results = tuner.fit()
    if not sweep_complete(results, expected_trials(study, gan)):
        raise StudyInterrupted(gan)
    reconcile_sweep(study, gan, state, sweep_trial_ids(results))
