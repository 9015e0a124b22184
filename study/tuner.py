"""Assembly of a study: one Ray Tune sweep per GAN, one MLflow parent run, resumable.

``run_study(study)`` creates the study directory ``<storage_path>/<name>/`` (resolved study file
``study.yaml``, state file ``study_state.json``, ``mlflow.db`` + ``mlruns/`` for the default
sqlite tracking, ``optuna.db``), the MLflow experiment and parent run, starts Ray, and runs the
GANs one after another, each as a Tuner in ``<study dir>/<gan>/``:

- search: ``OptunaSearch`` over the GAN's define-by-run space (``search_spaces``), the paper
  defaults as first point, a seeded TPE (or random) sampler, persisted in ``optuna.db`` under
  the study name ``<study>-<gan>``, wrapped in a ``ConcurrencyLimiter``; or, for grid studies,
  ``tune.grid_search`` over the listed points;
- scheduler: ``ASHAScheduler(time_attr="step")`` or FIFO;
- trainable: ``tune.with_resources(train_gan, {cpu, gpu})``;
- checkpoints: the 2 best by the primary metric (+ the latest), retries from the last one.

A finished GAN is marked ``done`` in the state file; ``resume_study`` skips those and restores
an interrupted sweep with ``Tuner.restore(resume_unfinished=True, resume_errored=True)``
(``restart_errored`` would crash OptunaSearch), reusing the parent run and each trial's child.
At the end: the leaderboard (table + ``leaderboard.md/json`` + parent artifacts), the best
generator registered in the MLflow model registry under the study name, and the ``mlflow ui``
command to browse it all.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
import zlib
from pathlib import Path

from study.study_file import StudyError, StudyFile, is_uri, parse_study
from trainables.config import resolve_config
from trainables.tune_trainable import TAG_STOP_REASON, TAG_TRIAL_ID, study_metric

STATE_FILE = "study_state.json"  # the study directory's state (parent run id, GANs done)
RESOLVED_FILE = "study.yaml"  # the resolved study file, beside the study and on the parent run
STATE_VERSION = 1  # bump when the state file's layout changes
SWEEP_FINAL = ("TERMINATED", "ERROR")  # Tune trial statuses of a finished trial
ORPHANED = "orphaned"  # stop_reason of an MLflow child whose trial a killed driver lost


class StudyInterrupted(RuntimeError):
    """The driver was interrupted (Ctrl-C / SIGINT / SIGUSR1); the study can be resumed."""


# -- state file ----------------------------------------------------------------------------------
def read_state(study_dir: Path) -> dict:
    path = Path(study_dir) / STATE_FILE
    if not path.is_file():
        raise StudyError(f"{study_dir}: not a study directory (no {STATE_FILE})")
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StudyError(f"{path}: unreadable state file ({exc})") from None
    if state.get("version") != STATE_VERSION:
        raise StudyError(f"{path}: state version {state.get('version')!r}, expected {STATE_VERSION}")
    return state


def write_state(study_dir: Path, state: dict) -> None:
    """Atomic write (a killed driver never leaves half a state file)."""
    path = Path(study_dir) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, path)


def find_study_dir(name_or_dir: str, storage_path: str = "./studies") -> Path:
    """A study directory given itself or a study name (looked up in ``storage_path``)."""
    for candidate in (Path(name_or_dir), Path(storage_path) / name_or_dir):
        if (candidate / STATE_FILE).is_file():
            return candidate.resolve()
    raise StudyError(f"{name_or_dir}: no study there (no {STATE_FILE}) nor under {storage_path}/")


def load_study_dir(study_dir: Path) -> tuple[StudyFile, dict]:
    state = read_state(study_dir)
    return parse_study(state["study"]), state


# -- preparation (no Ray) ------------------------------------------------------------------------
def dump_resolved(study: StudyFile, path: Path) -> Path:
    import yaml

    path.write_text("# resolved study file (every default filled in, absolute paths)\n"
                    + yaml.safe_dump(study.to_dict(), sort_keys=False))
    return path


def prepare_study(study: StudyFile) -> dict:
    """Create the study directory, the resolved file, the MLflow DB/experiment/parent run and the
    state file (before any trial exists). Refuses an existing study."""
    from study import tracking

    study_dir = study.study_dir
    if (study_dir / STATE_FILE).exists():
        raise StudyError(f"{study_dir}: a study named {study.name!r} already exists; resume it with "
                         f"`study resume {study_dir}` or choose another name")
    study_dir.mkdir(parents=True, exist_ok=True)
    resolved = dump_resolved(study, study_dir / RESOLVED_FILE)
    uri = study.tracking_uri
    artifact_root = study_dir / "mlruns" if uri.startswith("sqlite:") else None
    experiment_id = tracking.ensure_experiment(uri, study.experiment_name, artifact_root)
    parent = tracking.start_parent(uri, experiment_id, study, resolved)
    state = {"version": STATE_VERSION, "name": study.name, "study": study.to_dict(),
             "tracking_uri": uri, "experiment_id": experiment_id, "parent_run_id": parent,
             "gans": {gan: "pending" for gan in study.gans}, "status": "created",
             "started": time.time(), "wall_s": 0.0}
    write_state(study_dir, state)
    return state


# -- Ray / Tune pieces ---------------------------------------------------------------------------
# Driver environment variables handed on to every trial process (non-secret settings only:
# credentials stay with each node, e.g. its cloud role or its own environment).
TRIAL_ENV_PASSTHROUGH = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
                         "GOOGLE_CLOUD_PROJECT", "GAN_DATA_ROOT", "GAN_CACHE_DIR")


def trial_env(tracking_uri: str) -> dict[str, str]:
    """The ``runtime_env`` variables of a study's trials on any node: ``MLFLOW_TRACKING_URI``
    (credential-free: the study file refuses passwords in it) and the pass-through settings
    present in the driver's environment."""
    env = {"MLFLOW_TRACKING_URI": tracking_uri}
    env.update({k: os.environ[k] for k in TRIAL_ENV_PASSTHROUGH if os.environ.get(k)})
    return env


def init_ray(address: str, env_vars: dict[str, str] | None = None) -> bool:
    """Start (local, dashboard off) or join (``auto`` / ``ray://``) Ray with ``env_vars`` in the
    job's runtime environment (every trial on every node gets them); True if we started it."""
    import ray

    # Forced experiment snapshots (num_to_keep + frequent evaluations) are expected here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's classic reporter (compact tables, no per-trial config boxes) instead of the new one.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if ray.is_initialized():
        return False
    runtime_env = {"env_vars": dict(env_vars)} if env_vars else None
    if address == "local":
        ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True,
                 runtime_env=runtime_env)
    else:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True,
                 runtime_env=runtime_env)
    return True


def sampler_seed(study: StudyFile, gan: str) -> int:
    """The sampler seed of one GAN's sweep: ``search.seed`` + a stable hash of the GAN name, so
    GANs sharing parameter names (the TTUR axes) do not all draw the same values."""
    return (study.search.seed + zlib.crc32(gan.encode())) % (2**31)


def _sampler(study: StudyFile, gan: str):
    """Seeded Optuna sampler. TPE: multivariate with ``group=True`` (conditional spaces),
    ``constant_liar`` (parallel trials), random start on a third of the samples (2..10)."""
    import optuna

    seed = sampler_seed(study, gan)
    if study.search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=max(2, min(10, study.samples // 3)),
            multivariate=True, group=True, constant_liar=True)


def _trainable(study: StudyFile):
    from ray import tune

    from trainables.tune_trainable import train_gan

    return tune.with_resources(train_gan, {"cpu": study.resources.cpu, "gpu": study.resources.gpu})


def param_space(study: StudyFile, gan: str, state: dict) -> dict:
    """The constant part of every trial config of ``gan`` (+ the grid for grid studies)."""
    from ray import tune

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
    return study_metric(resolve_config(study.base_run(gan)), {"metric": study.search.metric})


def build_tuner(study: StudyFile, gan: str, state: dict):
    """The Tuner of one GAN's sweep (see the module docstring)."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    import search_spaces
    from study.tracking import TrialRunCloser

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
                            gan, metric, mode, study.budget.max_steps, study.max_t)
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


def progress_reporter(study: StudyFile, gan: str, metric: str, mode: str):
    """Tune's compact table (status, step, metric, searched parameters), every 30 s at most."""
    from ray.tune import CLIReporter

    import search_spaces
    from trainables.metric_names import EVAL_HQ, EVAL_KID, STEP

    points = study.grid_points(gan)
    if points is None:  # conditional parameters are left out: Tune's "best trial" line
        # raises KeyError on a column missing from the best trial's config
        keys = [k for k, info in search_spaces.space_params(gan, study.family).items()
                if not info["when"]]
        params = {k: k.split(".")[-1] for k in keys}
    else:
        params = {f"grid_point/{k}": k.split(".")[-1] for k in points[0]}
    extra = {EVAL_HQ: "hq"} if metric != EVAL_HQ and study.family == "toy" else {EVAL_KID: "kid"}
    metrics = {STEP: "step", metric: metric.split("/")[-1], **extra}
    return CLIReporter(metric_columns=metrics, parameter_columns=params,
                       sort_by_metric=True, max_progress_rows=30, max_report_frequency=30,
                       max_column_length=12)


def expected_trials(study: StudyFile, gan: str) -> int:
    points = study.grid_points(gan)
    return study.samples if points is None else len(points)


def sweep_complete(results, expected: int) -> bool:
    """True when the sweep ran all its trials to a final status (not interrupted)."""
    trials = results._experiment_analysis.trials  # ResultGrid keeps the Trial objects here
    return len(trials) >= expected and all(t.status in SWEEP_FINAL for t in trials)


def run_sweep(study: StudyFile, gan: str, state: dict, *, resume: bool) -> None:
    """Run (or restore and finish) the sweep of one GAN; raises StudyInterrupted if cut short."""
    from ray import tune

    from study import tracking

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
          f"{study.budget.max_steps} steps max, scheduler {study.scheduler.type}", flush=True)
    results = tuner.fit()
    if not sweep_complete(results, expected_trials(study, gan)):
        raise StudyInterrupted(gan)
    reconcile_sweep(study, gan, state, {t.trial_id for t in results._experiment_analysis.trials})


def remove_dir(path: str) -> bool:
    """Delete a folder on the local disk or behind a URI (pyarrow filesystems: s3://, gs://);
    False when there was none."""
    import pyarrow.fs

    fs, inner = pyarrow.fs.FileSystem.from_uri(path) if is_uri(path) else \
        (pyarrow.fs.LocalFileSystem(), path)
    if fs.get_file_info(inner).type == pyarrow.fs.FileType.NotFound:
        return False
    fs.delete_dir(inner)
    return True


def reconcile_sweep(study: StudyFile, gan: str, state: dict, trial_ids: set[str]) -> dict:
    """After a sweep, remove what a killed driver can leave behind (a trial started after Tune's
    last experiment snapshot is unknown to the restored sweep, which runs a replacement):

    - MLflow children of ``gan`` whose ``trial_id`` is not a trial of the sweep: closed KILLED
      with ``stop_reason = orphaned`` (kept for inspection, never ranked);
    - Optuna trials of ``<study>-<gan>`` still RUNNING: set FAIL (else the constant-liar TPE
      keeps treating them as pending, and they would look like extra trials).

    Returns ``{"mlflow": n, "optuna": m}`` (counts of orphans closed).
    """
    from study import tracking

    uri = state["tracking_uri"]
    n_runs = 0
    for run in tracking.children(uri, state["experiment_id"], state["parent_run_id"], gan):
        if run.data.tags.get(TAG_TRIAL_ID) not in trial_ids:
            if run.data.tags.get(TAG_STOP_REASON) != ORPHANED or run.info.status == "RUNNING":
                tracking.close_run(uri, run.info.run_id, "KILLED", ORPHANED, curve=False)
                n_runs += 1
    n_optuna = 0
    if study.grid_points(gan) is None:
        import optuna

        storage = optuna.storages.RDBStorage(f"sqlite:///{study.study_dir.resolve()}/optuna.db")
        study_id = storage.get_study_id_from_name(f"{study.name}-{gan}")
        for trial in storage.get_all_trials(study_id, deepcopy=False,
                                            states=(optuna.trial.TrialState.RUNNING,)):
            storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            n_optuna += 1
    if n_runs or n_optuna:
        print(f"[{gan}] closed {n_runs} orphaned MLflow run(s) and {n_optuna} orphaned Optuna "
              f"trial(s) left by a killed driver", flush=True)
    return {"mlflow": n_runs, "optuna": n_optuna}


def start_ray_checked(study: StudyFile) -> bool:
    """Start/join Ray and check a trial fits on some node (else StudyError, Ray left as found)."""
    from study.preflight import check_cluster

    started = init_ray(study.ray_address, trial_env(study.tracking_uri))
    try:
        check_cluster(study)
    except StudyError:
        if started:
            import ray

            ray.shutdown()
        raise
    return started


def run_gans(study: StudyFile, state: dict, *, resume: bool, started_ray: bool | None = None) -> list[dict]:
    """Run every GAN sweep not yet done, then finish the study; returns the leaderboard."""
    from study import tracking

    study_dir = study.study_dir.resolve()
    if started_ray is None:
        started_ray = start_ray_checked(study)
    t0 = time.time()
    state["status"] = "running"
    write_state(study_dir, state)
    try:
        for gan in study.gans:
            if state["gans"].get(gan) == "done":
                print(f"[{gan}] already done: skipped", flush=True)
                continue
            state["gans"][gan] = "running"
            write_state(study_dir, state)
            run_sweep(study, gan, state, resume=resume)
            state["gans"][gan] = "done"
            write_state(study_dir, state)
        state["wall_s"] = state.get("wall_s", 0.0) + time.time() - t0
        rows = finish_study(study, state)
        state["status"] = "done"
        write_state(study_dir, state)
        return rows
    except (StudyInterrupted, KeyboardInterrupt):
        state["status"] = "interrupted"
        state["wall_s"] = state.get("wall_s", 0.0) + time.time() - t0
        write_state(study_dir, state)
        n = tracking.kill_running(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])
        tracking.client_for(state["tracking_uri"]).set_terminated(state["parent_run_id"], "KILLED")
        print(f"study {study.name} interrupted ({n} running trials marked KILLED); "
              f"continue it with:\n  study resume {study_dir}", flush=True)
        raise StudyInterrupted(study.name) from None
    except BaseException:
        state["status"] = "failed"
        write_state(study_dir, state)
        tracking.client_for(state["tracking_uri"]).set_terminated(state["parent_run_id"], "FAILED")
        raise
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def finish_study(study: StudyFile, state: dict) -> list[dict]:
    """Leaderboard (printed, saved, parent artifacts), model registration, parent closed."""
    from study import report, tracking

    study_dir = study.study_dir.resolve()
    uri, parent = state["tracking_uri"], state["parent_run_id"]
    rows = report.leaderboard(uri, state["experiment_id"], parent)
    files = report.save_leaderboard(rows, study_dir)
    client = tracking.client_for(uri)
    for path in files:
        client.log_artifact(parent, str(path))
    if rows:
        best = rows[0]
        client.log_metric(parent, f"best/{best['metric']}", best["value"])
        client.set_tag(parent, "best_run_id", best["run_id"])
        client.set_tag(parent, "best_gan", best["gan"])
        if study.mlflow.register_model:
            version = tracking.register_best(uri, study.name, best["run_id"], {
                "gan": best["gan"], "metric": best["metric"], "value": best["value"],
                "step": best["step"], "trial_id": best["trial_id"]})
            state["registered_model"] = {"name": study.name, "version": version}
    if rows and study.scheduler.type == "asha":
        state["rung_medians"] = report.rung_medians(uri, state["experiment_id"], parent, rows[0]["metric"],
                                                    study.asha_rungs)
    client.set_terminated(parent, "FINISHED")
    print_summary(study, state, rows)
    return rows


def print_summary(study: StudyFile, state: dict, rows: list[dict]) -> None:
    from study import report

    print(f"\nstudy {study.name}: {len(study.gans)} GAN(s) on {study.dataset.name}, "
          f"wall time {state.get('wall_s', 0.0):.0f}s", flush=True)
    print(report.format_table(rows), flush=True)
    if rows:
        best = rows[0]
        figures = report.figures_line(best, study)
        print(f"\nbest: {best['gan']} trial {best['trial_id']} "
              f"{best['metric']}={best['value']:.4g} at step {best['step']}{figures} "
              f"(MLflow run {best['run_id']})")
    medians = state.get("rung_medians")
    if medians:
        print("ASHA rung medians of " + rows[0]["metric"] + ": "
              + ", ".join(f"{m:.3g} at step {r}" for r, m in medians.items()))
    reg = state.get("registered_model")
    if reg:
        print(f"registered model: models:/{reg['name']}/{reg['version']}")
    print(f"leaderboard: {study.study_dir.resolve() / 'leaderboard.md'}")
    uri = state["tracking_uri"]
    if uri.startswith(("http://", "https://")):
        print(f"browse it:  {uri}/#/experiments/{state['experiment_id']}", flush=True)
    else:
        print(f"browse it:  mlflow ui --backend-store-uri {uri}", flush=True)


# -- entry points --------------------------------------------------------------------------------
def run_study(study: StudyFile) -> list[dict]:
    """Create and run a new study; returns the leaderboard rows."""
    from study.preflight import preflight

    preflight(study)
    if (study.study_dir / STATE_FILE).exists():
        prepare_study(study)  # raises: the study exists
    started = start_ray_checked(study)
    try:
        state = prepare_study(study)
    except BaseException:
        if started:
            import ray

            ray.shutdown()
        raise
    print(f"study {study.name}: {study.study_dir.resolve()}  (MLflow {state['tracking_uri']}, "
          f"parent run {state['parent_run_id']})", flush=True)
    return run_gans(study, state, resume=False, started_ray=started)


def resume_study(study_dir: str | Path) -> list[dict]:
    """Finish an interrupted study: done GANs are skipped, the interrupted sweep is restored."""
    from study import tracking

    study_dir = Path(study_dir).resolve()
    study, state = load_study_dir(study_dir)
    if state["status"] == "done":
        print(f"study {study.name} is already done", flush=True)
        rows = _rows(state)
        print_summary(study, state, rows)
        return rows
    tracking.client_for(state["tracking_uri"]).update_run(state["parent_run_id"], status="RUNNING")
    print(f"resuming study {study.name} ({', '.join(f'{g}: {s}' for g, s in state['gans'].items())})",
          flush=True)
    return run_gans(study, state, resume=True)


def _rows(state: dict) -> list[dict]:
    from study import report

    return report.leaderboard(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])


def study_leaderboard(name_or_dir: str) -> tuple[StudyFile, dict, list[dict]]:
    """(study, state, leaderboard rows) of an existing study, finished or not."""
    study_dir = find_study_dir(name_or_dir)
    study, state = load_study_dir(study_dir)
    return study, state, _rows(state)
