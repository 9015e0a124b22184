"""Train one GAN without Ray: evaluate every ``eval.every`` steps, keep latest + best checkpoints.

``fit`` is the loop shared with the Ray Tune trainable (which passes its own ``on_eval`` hook to
report to Tune); ``train_to_dir`` is the plain local driver; ``main`` its command line::

    python -m trainables.train --gan tripletgan --data ring8 --steps 2000 --out runs/triplet
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from trainables.checkpoint import CheckpointError, load_checkpoint, load_first, save_checkpoint
from trainables.config import deep_merge, resolve_config, unflatten
from trainables.schema import ConfigError
from trainables.evaluation import build_evaluator
from trainables.loop import GanRun
from trainables.metric_names import STEP


class Diverged(RuntimeError):
    """A loss became NaN/Inf or left ``[-optim.loss_bound, optim.loss_bound]`` at ``step``."""

    def __init__(self, step: int, losses: dict):
        self.step, self.losses = step, dict(losses)
        shown = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
        super().__init__(f"diverged at step {step} ({shown})")


def check_losses(step: int, losses: dict, bound: float) -> None:
    """Raise :class:`Diverged` when any loss is non-finite or ``|loss| > bound``."""
    if any(not math.isfinite(v) or abs(v) > bound for v in losses.values()):
        raise Diverged(step, losses)


CHECK_EVERY = 25  # steps between two looks at the losses (one device-to-host transfer each)


class LossWatch:
    """The losses of every step, kept on the training device until a check.

    A step's losses are stacked into one device tensor (no host sync); every ``every`` steps, and
    before each evaluation, :meth:`check` moves all pending steps to the host in one transfer,
    hands each step's losses to ``on_losses(step, losses)`` (floats) in order and raises
    :class:`Diverged` at the first step whose losses are non-finite or beyond ``bound``: a
    divergence is caught at the first check after it, with the step it happened at. On a GPU
    this is one synchronisation per ``every`` steps instead of one per loss per step."""

    def __init__(self, bound: float, on_losses: Callable | None = None, every: int = CHECK_EVERY):
        self.bound, self.on_losses, self.every = bound, on_losses, max(1, int(every))
        self.keys: tuple = ()
        self.steps: list[int] = []
        self.values: list = []

    def add(self, step: int, losses: dict) -> None:
        self.keys = tuple(losses)
        self.steps.append(step)
        self.values.append(torch.stack([v.detach().float().reshape(()) for v in losses.values()]))
        if len(self.values) >= self.every:
            self.check()

    def check(self) -> None:
        if not self.values:
            return
        rows = torch.stack(self.values).tolist()  # the one device-to-host transfer
        steps, self.steps, self.values = self.steps, [], []
        for step, row in zip(steps, rows):
            losses = dict(zip(self.keys, row))
            if self.on_losses is not None:
                self.on_losses(step, losses)
            check_losses(step, losses, self.bound)


@dataclass
class FitResult:
    curve: list = field(default_factory=list)  # [{step, metric: value, ...}] per evaluation
    best: dict | None = None  # the evaluation with the best primary metric
    primary: str = ""
    mode: str = ""


def eval_steps(start: int, steps: int, every: int) -> list[int]:
    """Steps at which a run evaluates: 0 (untrained), every ``every``, and the last step."""
    marks = set(range(0, steps + 1, every)) | {steps}
    return sorted(s for s in marks if s >= start)


def fit(run: GanRun, *, on_eval: Callable | None = None, on_losses: Callable | None = None,
        evaluator=None, progress: bool = False, best: dict | None = None,
        check_every: int = CHECK_EVERY, evaluate_start: bool = False) -> FitResult:
    """Train ``run`` to ``cfg.steps``, evaluating at :func:`eval_steps`.

    ``on_eval(run, metrics, is_best)`` is called after each evaluation (metrics include ``step``);
    ``on_losses(step, losses)`` for every iteration, in order, at the loss checks (every
    ``check_every`` iterations and before each evaluation: :class:`LossWatch`; the step itself
    never waits for the device). Resumed runs (``run.step > 0``) continue from their step and do
    not re-evaluate it, unless ``evaluate_start`` (a PBT member started from another trial's
    checkpoint: its run records the state it now holds, even with no step left to train). A
    non-finite or out-of-bound loss raises :class:`Diverged` at the first check after it, naming
    its step (after ``on_losses`` has seen it).
    """
    cfg = run.cfg
    evaluator = evaluator or build_evaluator(run)
    result = FitResult(best=best, primary=evaluator.primary, mode=evaluator.mode)
    marks = [s for s in eval_steps(run.step, cfg.steps, cfg.eval.every) if s > run.step or run.step == 0]
    if evaluate_start and marks[:1] != [run.step]:
        marks.insert(0, run.step)
    watch = LossWatch(cfg.optim.loss_bound, on_losses, check_every)
    t0 = time.time()
    for mark in marks:
        while run.step < mark:
            losses = run.train_step()
            watch.add(run.step, losses)
        watch.check()
        metrics = {STEP: run.step, **evaluator.evaluate(run)}
        value = metrics.get(evaluator.primary)
        is_best = evaluator.is_best(run.step, value,
                                    None if result.best is None else result.best.get(evaluator.primary))
        if is_best:
            result.best = dict(metrics)
        result.curve.append(metrics)
        if progress:
            rate = run.step / max(time.time() - t0, 1e-9)
            shown = ", ".join(f"{k.split('/')[-1]}={v:.4g}" for k, v in metrics.items() if k != STEP)
            print(f"[{cfg.gan}] step {run.step}/{cfg.steps} {shown} ({rate:.0f} it/s)", flush=True)
        if on_eval is not None:
            on_eval(run, metrics, is_best)
    return result


def train_to_dir(config: dict, out_dir: str | Path, *, progress: bool = True) -> FitResult:
    """Train from ``config`` into ``out_dir`` (resolved config, metrics.jsonl, checkpoints,
    samples); resumes from ``out_dir/checkpoints/latest.pt`` when present, or from
    ``previous.pt`` (the checkpoint before it) when latest is truncated or foreign."""
    out = Path(out_dir)
    cfg = resolve_config(config)
    latest, best_path = out / "checkpoints" / "latest.pt", out / "checkpoints" / "best.pt"
    previous = latest.with_name("previous.pt")  # the checkpoint before latest (fallback)
    best = None

    def set_aside(candidate: Path, exc: CheckpointError) -> None:
        print(f"warning: {exc}; kept as {candidate.name}.corrupt, trying an older checkpoint",
              file=sys.stderr)
        os.replace(candidate, candidate.with_name(candidate.name + ".corrupt"))

    def restored(candidate: Path) -> tuple[GanRun, dict]:  # a fresh run: a failed load may be partial
        data, fresh = load_checkpoint(candidate), GanRun(cfg)
        fresh.restore(data, candidate)
        return fresh, data

    try:
        candidate, (run, data) = load_first([c for c in (latest, previous) if c.exists()], load=restored,
                                            on_skip=set_aside)
    except CheckpointError:  # no checkpoint, or every one was unusable (set aside): start from scratch
        run = GanRun(cfg)
    else:
        best = data.get("best")
        print(f"resumed from {candidate} at step {run.step}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    evaluator = build_evaluator(run)
    state = {"best": best}

    def on_eval(run, metrics, is_best):
        with open(out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(metrics) + "\n")
        evaluator.save_samples(run, out / "samples" / f"step_{run.step:07d}.png")
        if is_best:
            state["best"] = metrics
            save_checkpoint(best_path, run.checkpoint_payload(best=metrics))
        if latest.exists():
            os.replace(latest, previous)
        save_checkpoint(latest, run.checkpoint_payload(best=state["best"]))

    return fit(run, on_eval=on_eval, evaluator=evaluator, progress=progress, best=best)


def overrides_from_sets(items: list[str]) -> dict:
    """``KEY=JSON`` items (``--set``) as a flat {dotted key: value} dict; a value that is not JSON
    stays a string. ValueError naming the item when its key is empty or not a dotted name."""
    overrides = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key or "" in key.split("."):
            raise ValueError(f"{item!r}: expected KEY=JSON with a dotted key such as optim.lr_d=1e-4")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train one GAN without Ray and print its measures.")
    parser.add_argument("--gan", default="tripletgan", help="registered GAN name")
    parser.add_argument("--data", default="ring8", help="dataset name")
    parser.add_argument("--steps", type=int, default=2000, help="training iterations")
    parser.add_argument("--eval-every", type=int, default=500, help="evaluation interval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override, e.g. --set hparams.margin=1.0 --set optim.lr_d=1e-4")
    parser.add_argument("--out", default=None, help="run directory (default runs/<gan>-<data>)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate, print the resolved config (what config.json holds) and train nothing")
    args = parser.parse_args(argv)

    try:
        overrides = overrides_from_sets(args.set)
    except ValueError as exc:
        print(f"error: --set {exc}", file=sys.stderr)
        return 2
    try:
        config = deep_merge({"gan": args.gan, "data": {"name": args.data}, "steps": args.steps,
                             "seed": args.seed, "eval": {"every": args.eval_every}}, unflatten(overrides))
        if args.dry_run:
            print(json.dumps(resolve_config(config).to_dict(), indent=2))
            return 0
        result = train_to_dir(config, args.out or f"runs/{args.gan}-{args.data}")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Diverged as exc:  # the last good checkpoint stays in <out>/checkpoints/latest.pt
        print(f"error: {exc}", file=sys.stderr)
        return 1
    last = result.curve[-1]
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
                      for k, v in last.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
