"""The Ray Tune function trainable of a study: one GAN run per trial, tracked in one MLflow run.

A trial's config (built by ``study.tuner``) holds three things:

- ``config["run"]``: the nested base run config of the GAN (a dict ``resolve_config`` accepts,
  absolute paths, ``steps`` and ``eval.every`` from the study budget);
- the searched parameters, flat with dotted keys (``{"hparams.margin": 0.7, ...}``) merged in by
  the searcher, or under ``config["grid_point"]`` for grid studies;
- ``config["study"]``: metadata (:data:`STUDY_KEYS`: tracking URI, experiment id, parent run
  id, study name, GAN name, search kind, loss-logging intervals).

:func:`train_gan` builds a :class:`~trainables.loop.GanRun`, resumes from
``tune.get_checkpoint()`` when Tune restarts the trial (retry after a crash, restored study),
and runs the shared loop :func:`trainables.train.fit`. At each evaluation (and only then) it
writes a checkpoint directory (``checkpoint.pt`` = state + config + step + best + MLflow run id,
and the evaluation's sample image) and calls ``tune.report`` with the primary metric, ``step``
and the other evaluation metrics. Per-step losses bypass Tune and go straight to MLflow in
batches (:class:`TrialTracker`).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path

import torch

from trainables.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint, save_checkpoint
from trainables.config import flatten, resolve_config
from trainables.evaluation import build_evaluator, primary_metric, worst_value
from trainables.loop import GanRun
from trainables import metric_names as M
from trainables.metric_names import STEP
from trainables.ranking import RankRule
from trainables.train import Diverged, fit

# MLflow tag names of a trial's child run (the driver finds and closes runs through them).
TAG_PARENT = "mlflow.parentRunId"  # MLflow's own nesting tag
TAG_RUN_NAME = "mlflow.runName"  # MLflow's display name
TAG_TRIAL_ID = "trial_id"  # Ray Tune trial id (stable across retries and restores)
TAG_GAN = "gan"  # registered GAN name
TAG_STUDY = "study"  # study name
TAG_PRIMARY = "primary_metric"  # the metric the study optimises for this trial
TAG_MODE = "mode"  # "min" | "max"
TAG_RANK = "rank_rule"  # JSON of the trial's RankRule (which evaluation ranks it)
TAG_SEARCHED = "searched"  # JSON of the searched (flat) parameters of the trial
TAG_STOP_REASON = "stop_reason"  # completed | early_stopped | max_t | diverged | error | killed
TAG_DIVERGED_AT = "diverged_at_step"  # step whose losses were NaN/Inf or beyond optim.loss_bound
TAG_DIVERGED_LOSSES = "diverged_losses"  # JSON of those losses ("nan", "inf" as strings)
TAG_KIND = "kind"  # "study" (parent) | "trial" (child)
TAG_PLACEMENTS = "placements"  # JSON list, one entry per (re)start: node, pid, GPUs, device, step
TAG_NODE = "node_id"  # Ray node of the latest (re)start
TAG_PID = "pid"  # worker process of the latest (re)start
TAG_RESUMED_FROM = "resumed_from_step"  # step of the checkpoint the latest restart loaded

SAMPLES_DIR = "samples"  # artifact folder of the per-evaluation sample images
CHECKPOINTS_DIR = "checkpoints"  # artifact folder holding best.pt
BEST_NAME = "best.pt"  # the best checkpoint (full payload: config + state)
PARAM_VALUE_MAX = 6000  # MLflow's limit on a param value's length (longer values are cut)
PARAM_KEY_MAX = 250  # MLflow's limit on a param key's length
STUDY_KEYS = ("tracking_uri", "experiment_id", "parent_run_id", "study_name", "gan", "search",
              "loss_every", "flush_every", "metric", "mode", "rank")
DEFAULT_LOSS_EVERY = 1  # log the losses of every step (MLflow receives them in batches)
DEFAULT_FLUSH_EVERY = 50  # steps between two MlflowClient.log_batch calls of the losses

# Evaluation metrics a study may optimise instead of the dataset's primary one, with their mode.
METRIC_MODES = {M.EVAL_FIT: "max", M.EVAL_MODES: "max", M.EVAL_MODES_20: "max", M.EVAL_HQ: "max", M.EVAL_KL: "min",
                M.EVAL_JSD: "min", M.EVAL_FID: "min", M.EVAL_KID: "min", M.EVAL_IS: "max",
                M.EVAL_CLASS_ENTROPY: "max", M.EVAL_CLASS_L2: "min"}


def study_metric(cfg, study: dict) -> tuple[str, str]:
    """(metric, mode) a trial optimises: ``study["metric"]`` when the study file overrides it
    (``search.metric``), else ``evaluation.primary_metric(cfg)``."""
    metric = study.get("metric")
    if metric:
        return metric, METRIC_MODES[metric]
    return primary_metric(cfg)


def rank_rule(study: dict) -> RankRule:
    """The study's :class:`RankRule` (``study["rank"]``: by, k, after), default ``best`` after step 0."""
    return RankRule(**(study.get("rank") or {}))


def trial_point(config: dict) -> dict:
    """The flat searched parameters of a trial config: every top-level key except ``run`` /
    ``study`` / ``grid_point``, plus the content of ``grid_point`` (grid studies)."""
    point = {k: v for k, v in config.items() if k not in ("run", "study", "grid_point")}
    point.update(config.get("grid_point") or {})
    return point


def trial_run_config(config: dict) -> dict:
    """The nested run config of a trial: the searched point over ``config["run"]``.

    Optuna studies use ``search_spaces.point_config`` (keys the GAN's space owns are dropped from
    the base first, so a conditional parameter that is off falls back to its default); grid
    studies use ``search_spaces.apply_point`` (a plain deep merge: base values of axes the grid
    does not touch are kept).
    """
    import search_spaces

    base, point = config["run"], trial_point(config)
    if config["study"].get("search", "optuna") == "grid":
        return search_spaces.apply_point(base, point)
    return search_spaces.point_config(base, point)


def mlflow_params(cfg_dict: dict) -> dict[str, str]:
    """The flat hyperparameters of a resolved config as MLflow params (values cut to
    :data:`PARAM_VALUE_MAX` characters, keys to :data:`PARAM_KEY_MAX`)."""
    out = {}
    for key, value in flatten(cfg_dict).items():
        text = json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
        out[key[:PARAM_KEY_MAX]] = text[:PARAM_VALUE_MAX]
    return out


def find_trial_run(client, study: dict, trial_id: str):
    """The MLflow child run of ``trial_id`` under the study's parent run (None if not created)."""
    runs = client.search_runs(
        [study["experiment_id"]],
        filter_string=f"tags.{TAG_TRIAL_ID} = '{trial_id}' and tags.`{TAG_PARENT}` = "
                      f"'{study['parent_run_id']}'",
        max_results=1)
    return runs[0] if runs else None


class TrialTracker:
    """The MLflow child run of one trial: created once, reused on every restart.

    The run is found by the id stored in the checkpoint, else by the ``trial_id`` tag under the
    parent run, else created (tags: parent, GAN, trial id, study, primary metric; params: the
    flat resolved config). ``high_water[key]`` is the last step already logged for each metric
    key; points at or below it are never logged again (a resumed trial replays the steps after
    its checkpoint, which may already be in MLflow).
    """

    def __init__(self, study: dict, trial_id: str, trial_name: str, cfg, point: dict,
                 run_id: str | None = None):
        self.metric, self.mode = study_metric(cfg, study)
        from mlflow import MlflowClient

        self.client = MlflowClient(study["tracking_uri"])
        self.study = study
        self.loss_every = int(study.get("loss_every") or DEFAULT_LOSS_EVERY)
        self.flush_every = int(study.get("flush_every") or DEFAULT_FLUSH_EVERY)
        self.buffer: list = []
        self.last_flush_step = 0
        self.run_id = run_id or self._find(trial_id)
        self.high_water: dict[str, int] = {}
        self.reused = self.run_id is not None  # a restart: some points may already be logged
        if self.run_id is None:
            self.run_id = self._create(trial_id, trial_name, cfg, point)
        else:
            self.client.update_run(self.run_id, status="RUNNING")
            self.client.set_tag(self.run_id, "restarts", str(self._restarts() + 1))

    def _find(self, trial_id: str) -> str | None:
        run = find_trial_run(self.client, self.study, trial_id)
        return run.info.run_id if run else None

    def _restarts(self) -> int:
        return int(self.client.get_run(self.run_id).data.tags.get("restarts", "0"))

    def _create(self, trial_id: str, trial_name: str, cfg, point: dict) -> str:
        from mlflow.entities import Param

        metric, mode = self.metric, self.mode
        tags = {TAG_PARENT: self.study["parent_run_id"], TAG_TRIAL_ID: trial_id,
                TAG_GAN: cfg.gan, TAG_STUDY: self.study["study_name"], TAG_PRIMARY: metric,
                TAG_MODE: mode, TAG_SEARCHED: json.dumps(point, sort_keys=True)[:PARAM_VALUE_MAX],
                TAG_KIND: "trial", "dataset": cfg.data.name,
                TAG_RANK: json.dumps(rank_rule(self.study).to_dict())}
        run = self.client.create_run(self.study["experiment_id"], tags=tags,
                                     run_name=f"{cfg.gan}-{trial_name}")
        params = [Param(k, v) for k, v in mlflow_params(cfg.to_dict()).items()]
        for i in range(0, len(params), 100):  # MLflow accepts at most 100 params per batch
            self.client.log_batch(run.info.run_id, params=params[i:i + 100])
        return run.info.run_id

    def load_high_water(self, keys) -> None:
        """Read the last logged step of each metric key (only needed for a reused run)."""
        for key in keys:
            history = self.client.get_metric_history(self.run_id, key)
            if history:
                self.high_water[key] = max(m.step for m in history)

    def _add(self, key: str, value: float, step: int, timestamp: int) -> None:
        from mlflow.entities import Metric

        if step > self.high_water.get(key, -1):
            self.buffer.append(Metric(key, float(value), timestamp, int(step)))

    def on_losses(self, step: int, losses: dict) -> None:
        """Buffer the losses of a step (every ``loss_every`` steps); flush every ``flush_every``."""
        if step % self.loss_every == 0:
            ts = int(time.time() * 1000)
            for key, value in losses.items():
                self._add(key, value, step, ts)
        if step - self.last_flush_step >= self.flush_every:
            self.flush(step)

    def log_metrics(self, metrics: dict, step: int) -> None:
        """Buffer a dict of metrics at ``step`` (flushed by the caller)."""
        ts = int(time.time() * 1000)
        for key, value in metrics.items():
            self._add(key, value, step, ts)

    def flush(self, step: int | None = None) -> None:
        """Send the buffered points in ``log_batch`` calls (<= 1000 metrics each)."""
        while self.buffer:
            chunk, self.buffer = self.buffer[:1000], self.buffer[1000:]
            self.client.log_batch(self.run_id, metrics=chunk)
            for m in chunk:
                self.high_water[m.key] = max(self.high_water.get(m.key, -1), m.step)
        if step is not None:
            self.last_flush_step = step

    def log_artifact(self, path: Path, folder: str) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)


def _trial_threads() -> int:
    """CPU threads for torch: the trial's CPU share (at least 1)."""
    from ray import tune

    try:
        cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    except Exception:  # outside a trial (benchmarks) or an older resource API
        cpus = 1
    return max(1, int(cpus))


def _finite(metrics: dict, primary: str, mode: str) -> dict:
    """``metrics`` with a non-finite primary value replaced by ``worst_value(mode)`` (a NaN
    would break the searcher and the scheduler's comparisons)."""
    out = dict(metrics)
    value = out.get(primary)
    if value is None or not math.isfinite(value):
        out[primary] = worst_value(mode)
    return out


def train_gan(config: dict) -> None:
    """Ray Tune function trainable: train one GAN run, report at each evaluation.

    Resumes from ``tune.get_checkpoint()``; reports ``{primary metric, step, other eval
    metrics}`` with a checkpoint at each evaluation (never between: every report must hold the
    metric); logs losses, evaluation metrics, sample images and the best checkpoint to the
    trial's MLflow child run (see :class:`TrialTracker`). The child run's final status is set by
    the driver (``study.tracking.TrialRunCloser``), however the trial ends.
    """
    from ray import tune

    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one INFO line per checkpoint
    study = config["study"]
    torch.set_num_threads(_trial_threads())
    cfg = resolve_config(trial_run_config(config))
    metric, mode = study_metric(cfg, study)
    ctx = tune.get_context()
    trial_id, trial_name = ctx.get_trial_id(), ctx.get_trial_name()

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a restart: did this trial end before a driver kill?
        ended = ended_run(study, trial_id)
        if ended is not None:  # its result is already in MLflow and Optuna: report nothing more
            print(f"trial {trial_id} already ended ({ended.data.tags.get(TAG_STOP_REASON)}, MLflow "
                  f"run {ended.info.run_id}): not training it again", flush=True)
            return
    run = GanRun(cfg)
    best, run_id = None, None
    if checkpoint is not None:
        payload = load_trial_checkpoint(checkpoint)
        run.load_state_dict(payload["state"])
        best, run_id = payload.get("best"), payload.get("mlflow_run_id")
    tracker = TrialTracker(study, trial_id, trial_name, cfg, trial_point(config), run_id=run_id)
    if tracker.reused:
        tracker.load_high_water(_metric_keys(cfg, metric))
    record_placement(tracker, run)

    evaluator = build_evaluator(run)
    evaluator.primary, evaluator.mode = metric, mode  # fit's "is best" (best.pt) follows the study
    evaluator.rank = rank_rule(study)
    work = Path(tempfile.mkdtemp(prefix=f"trial-{trial_id}-"))
    state = {"best": best}

    def on_eval(run: GanRun, metrics: dict, is_best: bool) -> None:
        step = run.step
        metrics = _finite(metrics, metric, mode)
        if is_best:
            state["best"] = dict(metrics)
        tracker.log_metrics({k: v for k, v in metrics.items() if k != STEP}, step)
        tracker.flush(step)
        sample = evaluator.save_samples(run, work / SAMPLES_DIR / f"step_{step:08d}.png")
        tracker.log_artifact(sample, SAMPLES_DIR)
        payload = {**run.checkpoint_payload(best=state["best"]), "mlflow_run_id": tracker.run_id,
                   "trial_id": trial_id}
        if is_best:
            best_path = save_checkpoint(work / BEST_NAME, payload)
            tracker.log_artifact(best_path, CHECKPOINTS_DIR)
        ckpt_dir = Path(tempfile.mkdtemp(prefix=f"ckpt-{step:08d}-", dir=work))
        save_checkpoint(ckpt_dir / CHECKPOINT_NAME, payload)
        shutil.copy2(sample, ckpt_dir / sample.name)
        try:
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(ckpt_dir)))
        finally:
            shutil.rmtree(ckpt_dir, ignore_errors=True)  # Tune has copied it to the storage path

    try:
        fit(run, on_eval=on_eval, on_losses=tracker.on_losses, evaluator=evaluator,
            best=state["best"])
        tracker.flush()
    except Diverged as exc:
        report_divergence(tracker, exc, metric, mode)
    except BaseException as exc:
        tracker.buffer.clear()  # unflushed losses are replayed after the restart
        try:
            tracker.client.set_tag(tracker.run_id, "last_error", f"{type(exc).__name__}: {exc}"[:5000])
        except Exception:  # never hide the trial's own error behind a tracking error
            pass
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _checkpoint_index(path: str) -> int:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return int(name.split("_")[-1]) if name.startswith("checkpoint_") and name.split("_")[-1].isdigit() else -1


def older_checkpoints(checkpoint) -> list:
    """The trial's other checkpoints older than ``checkpoint`` (siblings ``checkpoint_NNNNNN``
    in its trial directory, on any pyarrow filesystem: local, NFS, S3, GCS), newest first."""
    import pyarrow.fs
    from ray import tune

    parent, index = checkpoint.path.rstrip("/").rsplit("/", 1)[0], _checkpoint_index(checkpoint.path)
    infos = checkpoint.filesystem.get_file_info(pyarrow.fs.FileSelector(parent))
    older = [i.path for i in infos if i.type == pyarrow.fs.FileType.Directory
             and 0 <= _checkpoint_index(i.path) < index]
    return [tune.Checkpoint(p, filesystem=checkpoint.filesystem)
            for p in sorted(older, key=_checkpoint_index, reverse=True)]


def load_trial_checkpoint(checkpoint) -> dict:
    """The payload of Tune's latest checkpoint of this trial; when that one is truncated or
    foreign (:class:`CheckpointError`), the newest older checkpoint that loads (one warning line
    per skipped file). Raises CheckpointError when none loads."""
    errors = []
    for candidate in [checkpoint] + older_checkpoints(checkpoint):
        try:
            with candidate.as_directory() as ckpt_dir:
                payload = load_checkpoint(Path(ckpt_dir) / CHECKPOINT_NAME)
        except CheckpointError as exc:
            errors.append(str(exc))
            print(f"warning: {candidate.path}: unusable checkpoint, trying an older one ({exc})",
                  flush=True)
            continue
        if errors:
            print(f"resuming from the older checkpoint {candidate.path} (step {payload['step']})",
                  flush=True)
        return payload
    raise CheckpointError(f"{checkpoint.path}: no loadable checkpoint in this trial ({errors[0]})")


def placement(run: GanRun) -> dict:
    """Where this (re)start of the trial runs: Ray node id, host, worker pid, the GPU ids Ray
    assigned (``CUDA_VISIBLE_DEVICES``), the torch device in use, and the step it starts from."""
    import os
    import socket

    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
            "pid": os.getpid(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "device": str(run.device), "step": run.step}


def record_placement(tracker: TrialTracker, run: GanRun) -> None:
    """Append this start to the run's ``placements`` tag (history across retries/restores)."""
    here = placement(run)
    tags = tracker.client.get_run(tracker.run_id).data.tags
    history = json.loads(tags.get(TAG_PLACEMENTS) or "[]") + [here]
    while len(json.dumps(history)) > PARAM_VALUE_MAX and len(history) > 1:
        history.pop(0)  # MLflow tag values are capped: keep the latest starts
    tracker.client.set_tag(tracker.run_id, TAG_PLACEMENTS, json.dumps(history))
    tracker.client.set_tag(tracker.run_id, TAG_NODE, here["node_id"])
    tracker.client.set_tag(tracker.run_id, TAG_PID, str(here["pid"]))
    if run.step > 0:
        tracker.client.set_tag(tracker.run_id, TAG_RESUMED_FROM, str(run.step))


def ended_run(study: dict, trial_id: str):
    """The trial's MLflow child run if the driver already closed it as ended (FINISHED, or
    FAILED with ``stop_reason = diverged``), else None.

    A driver SIGKILLed after a trial ended but before Tune's next experiment snapshot leaves
    that trial RUNNING in the snapshot; the restored sweep starts it again. Such a trial must
    not train again (nor count a restart, nor report: Optuna refuses values for a finished
    trial, which would abort the sweep); it returns at once."""
    from mlflow import MlflowClient

    run = find_trial_run(MlflowClient(study["tracking_uri"]), study, trial_id)
    if run is None:
        return None
    reason = run.data.tags.get(TAG_STOP_REASON)
    if run.info.status == "FINISHED" or (run.info.status == "FAILED" and reason == "diverged"):
        return run
    return None


def report_divergence(tracker: TrialTracker, exc: Diverged, metric: str, mode: str) -> None:
    """End a diverged trial cleanly: tag its MLflow run (``diverged_at_step``, the offending
    losses), then send Tune one last result holding the metric's finite worst value and
    ``diverged = 1`` (no checkpoint: the last good one stays the trial's latest). The trial
    returns normally, so the study goes on; the driver closes the run FAILED."""
    from ray import tune

    tracker.buffer = [m for m in tracker.buffer if math.isfinite(m.value)]  # NaN never reaches MLflow
    tracker.flush(exc.step)
    losses = {k: (v if math.isfinite(v) else str(v)) for k, v in exc.losses.items()}
    tracker.client.set_tag(tracker.run_id, TAG_DIVERGED_AT, str(exc.step))
    tracker.client.set_tag(tracker.run_id, TAG_DIVERGED_LOSSES, json.dumps(losses))
    print(f"trial {tracker.run_id}: {exc}; reporting {metric} = {worst_value(mode)}", flush=True)
    tune.report({metric: worst_value(mode), STEP: exc.step, M.DIVERGED: 1})


def _metric_keys(cfg, metric: str) -> list[str]:
    """Metric keys a trial logs (losses + evaluation metrics), for the resume high-water mark."""
    from trainables.evaluation import IMAGE_KEYS, TOY_KEYS

    keys = [M.LOSS_D, M.LOSS_G] + ([M.LOSS_AE] if cfg.hparams.needs_encoder else [])
    keys += list((TOY_KEYS if cfg.is_toy else IMAGE_KEYS).values())
    return keys if metric in keys else keys + [metric]

