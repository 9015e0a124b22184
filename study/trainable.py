"""The Ray Tune function trainable of a study: one GAN run per trial, tracked in one MLflow run.

A trial's config (built by ``study.sweep``) is read once into a typed
:class:`~study.trial_spec.TrialSpec` (the base run config, the searched point, and the study side:
tracking target, GAN, search kind, metric and mode, rank rule). :func:`train_gan` builds a :class:`~trainables.loop.GanRun`, resumes from
``tune.get_checkpoint()`` when Tune restarts the trial (retry after a crash, restored study),
and runs the shared loop :func:`trainables.train.fit`. At each evaluation (and only then) it
writes a checkpoint directory (``checkpoint.pt`` = state + config + step + best + MLflow run id
+ a PBT member's lineage, and the evaluation's sample image) and calls ``tune.report`` with the
primary metric, ``step`` and the other evaluation metrics. Per-step losses bypass Tune and go
straight to MLflow in batches (:class:`~study.tracking.TrialTracker`).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from pathlib import Path

import torch
from ray import tune

from study.tracking import (BEST_NAME, BEST_SAMPLES, CHECKPOINTS_DIR, SAMPLES_DIR, TAG_DIVERGED_AT,
                            TAG_DIVERGED_LOSSES, TAG_STOP_REASON, TrialTracker, ended_trial_run)
from study.trial_checkpoints import load_trial_checkpoint
from study.trial_records import record_pbt, record_placement
from study.trial_spec import TrialSpec, TrialStudy
from trainables import metric_names as M
from trainables.checkpoint import CHECKPOINT_NAME, save_checkpoint
from trainables.config import resolve_config
from trainables.evaluation import build_evaluator, logged_keys, worst_value
from trainables.loop import GanRun
from trainables.metric_names import STEP
from trainables.train import Diverged, fit

def _trial_threads() -> int:
    """CPU threads for torch: the trial's CPU share (at least 1)."""
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
    the driver (``study.callbacks.TrialRunCloser``), however the trial ends.
    """
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one INFO line per checkpoint
    spec = TrialSpec.from_config(config)  # the Ray boundary: from here on, typed
    study = spec.study
    torch.set_num_threads(_trial_threads())
    cfg = resolve_config(spec.run_config())
    ctx = tune.get_context()
    trial_id, trial_name = ctx.get_trial_id(), ctx.get_trial_name()

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None and _already_ended(study, trial_id):
        return  # its result is already in MLflow and Optuna: report nothing more
    run = GanRun(cfg)
    best, run_id, evaluations, copied, lineage = _restore(run, checkpoint, trial_id, trial_name)
    tracker = TrialTracker(study, trial_id, trial_name, cfg, spec.point, run_id=run_id)
    metric, mode = tracker.metric, tracker.mode  # the study's metric (search.metric) or the primary one
    if tracker.reused:
        tracker.load_high_water(logged_keys(cfg, metric))
    record_placement(tracker, run)
    pbt = {}  # a PBT member's own checkpoints carry the exploits its weights descend from
    if study.scheduler in ("pbt", "pb2"):
        pbt["pbt_lineage"] = record_pbt(tracker, run, spec.point, copied, trial_id, lineage)

    evaluator = build_evaluator(run)
    evaluator.primary, evaluator.mode = metric, mode  # fit's "is best" (best.pt) follows the study
    evaluator.rank = tracker.rank
    work = Path(tempfile.mkdtemp(prefix=f"trial-{trial_id}-"))
    state = {"best": best, "evaluations": evaluations}

    def on_eval(run: GanRun, metrics: dict, is_best: bool) -> None:
        metrics = _finite(metrics, metric, mode)
        if is_best:
            state["best"] = dict(metrics)
        # a restart replays the steps after its checkpoint: an evaluation replaces any at its step
        state["evaluations"] = [e for e in state["evaluations"] if e[STEP] < run.step] + [dict(metrics)]
        payload = {**run.checkpoint_payload(best=state["best"]), "mlflow_run_id": tracker.run_id,
                   "trial_id": trial_id, "evaluations": state["evaluations"], **pbt}
        tracker.log_metrics(evaluator.rank.ranked_metrics(state["evaluations"], metric, mode), run.step)
        report_evaluation(run, metrics, is_best, payload, tracker, evaluator, work)

    try:
        fit(run, on_eval=on_eval, on_losses=tracker.on_losses, evaluator=evaluator, best=state["best"],
            evaluate_start=copied is not None and run.step >= cfg.steps)  # a PBT copy of a finished member
        tracker.flush()
    except Diverged as exc:
        report_divergence(tracker, exc, [(metric, mode), *study.objectives])
    except BaseException as exc:
        record_error(tracker, exc)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def record_error(tracker: TrialTracker, exc: BaseException) -> None:
    """A trial's error as its run's ``last_error`` tag (not Tune's SystemExit(0) of a stopped
    trial); its unflushed losses are dropped: a restart replays them."""
    tracker.buffer.clear()
    if not (isinstance(exc, SystemExit) and not exc.code):
        tracker.record_error(exc)


def _restore(run: GanRun, checkpoint, trial_id: str, trial_name: str | None = None
             ) -> tuple[dict | None, str | None, list[dict], dict | None, list | None]:
    """Load Tune's checkpoint (if any) into ``run``: (best evaluation, MLflow run id, evaluations,
    copied, PBT lineage), ``copied`` = the checkpoint's payload when it is another trial's (a PBT
    exploit); the lineage is the one the trial's own checkpoint holds (None: none held).

    A copied checkpoint brings the other trial's nets, optimiser states and step but not its
    history: the member's ranking starts again from the copied state (its MLflow run is its own,
    found by trial id), and the optimisers take this trial's (perturbed) learning rates and betas."""
    if checkpoint is None:
        return None, None, [], None, None
    payload = load_trial_checkpoint(checkpoint, run, trial_name)
    if payload.get("trial_id") not in (None, trial_id):
        run.apply_optim_settings()
        return None, None, [], payload, None
    return (payload.get("best"), payload.get("mlflow_run_id"), list(payload.get("evaluations") or []), None,
            payload.get("pbt_lineage"))


def _already_ended(study: TrialStudy, trial_id: str) -> bool:
    """A restarted trial: did it end before a driver kill (see :func:`ended_run`)?"""
    ended = ended_trial_run(study, trial_id)
    if ended is not None:
        print(f"trial {trial_id} already ended ({ended.data.tags.get(TAG_STOP_REASON)}, MLflow "
              f"run {ended.info.run_id}): not training it again", flush=True)
    return ended is not None


def report_evaluation(run: GanRun, metrics: dict, is_best: bool, payload: dict, tracker: TrialTracker,
                      evaluator, work: Path) -> None:
    """One evaluation of a trial: metrics and sample image to MLflow, ``best.pt`` when it ranks,
    then ``tune.report`` with a checkpoint directory (checkpoint + sample), removed once Tune has
    copied it to the storage path."""
    step = run.step
    tracker.log_metrics({k: v for k, v in metrics.items() if k != STEP}, step)
    tracker.flush(step)
    sample = evaluator.save_samples(run, work / SAMPLES_DIR / f"step_{step:08d}.png")
    tracker.log_artifact(sample, SAMPLES_DIR)
    if is_best:
        tracker.log_artifact(save_checkpoint(work / BEST_NAME, payload), CHECKPOINTS_DIR)
        best_samples = work / BEST_SAMPLES
        shutil.copy2(sample, best_samples)  # top level: MLflow's compare page shows it side by side
        tracker.log_artifact(best_samples)
    ckpt_dir = Path(tempfile.mkdtemp(prefix=f"ckpt-{step:08d}-", dir=work))
    save_checkpoint(ckpt_dir / CHECKPOINT_NAME, payload)
    shutil.copy2(sample, ckpt_dir / sample.name)
    try:
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(ckpt_dir)))
    finally:
        shutil.rmtree(ckpt_dir, ignore_errors=True)


def report_divergence(tracker: TrialTracker, exc: Diverged, objectives: list) -> None:
    """End a diverged trial cleanly: tag its MLflow run (``diverged_at_step``, the offending
    losses), then send Tune one last result holding the finite worst value of each
    ``(metric, mode)`` of ``objectives`` (the study's metric, and every metric of a Pareto search)
    and ``diverged = 1`` (no checkpoint: the last good one stays the trial's latest). The trial
    returns normally, so the study goes on; the driver closes the run FAILED."""
    tracker.buffer = [m for m in tracker.buffer if math.isfinite(m.value)]  # NaN never reaches MLflow
    tracker.flush(exc.step)
    losses = {k: (v if math.isfinite(v) else str(v)) for k, v in exc.losses.items()}
    tracker.set_tags({TAG_DIVERGED_AT: str(exc.step), TAG_DIVERGED_LOSSES: json.dumps(losses)})
    worst = {metric: worst_value(mode) for metric, mode in objectives}
    print(f"trial {tracker.run_id}: {exc}; reporting {worst}", flush=True)
    tune.report({**worst, STEP: exc.step, M.DIVERGED: 1})
