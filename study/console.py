"""What `study run` prints while a sweep runs: a compact view instead of Ray Tune's status table.

:class:`ConsoleView` (a driver-side Tune callback) prints one line per trial start and, at most
every ``every`` seconds while the sweep runs, a progress block::

    [3:10] ##########.......... 52% of 48,000 trial steps, ETA 2:55
      mmd_rep     running 1  done 1  stopped 2  failed 0  best eval/fit 0.638 (step 6000)
      tripletgan  running 1  done 0  stopped 2  failed 0  best eval/fit 0.471 (step 3000)

A trial's end (finished, stopped at an ASHA rung, failed with its reason) is one line printed by
``study.callbacks.TrialRunCloser``. Plain lines only (no cursor control), so a CI log reads like
a terminal; floats have at most 4 significant digits. ``study run --verbose`` hands the console
back to Tune's own table (``verbose = 1`` with its reporter) and prints no progress block.

Progress counts trial steps: a trial that runs counts its last reported step, a trial that
ended counts its whole budget (``max_steps``: a stopped trial's remaining steps will never run),
so the bar reaches 100% when the last trial ends; the ETA extrapolates the rate so far.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable

from ray import tune

from study.routing import trial_gan
from trainables.metric_names import DIVERGED, STEP
from trainables.ranking import better

BAR = 20  # characters of the progress bar
EVERY_S = 90.0  # seconds between two progress blocks (the quickstart: about 5)
_VERBOSE = {"on": False}  # set by `study run/resume --verbose` (one driver process)


def set_verbose(on: bool) -> None:
    """``--verbose``: Ray Tune's own status table instead of the compact view."""
    _VERBOSE["on"] = bool(on)


def verbose() -> bool:
    return _VERBOSE["on"]


QUIET_LOGGERS = {  # logger -> level below which the compact view drops its lines
    "ray.tune": logging.WARNING,  # "Using FIFO scheduling algorithm." per GAN
    "ray.train": logging.WARNING,
    "mlflow.store.db.utils": logging.WARNING,  # "Creating initial MLflow database tables..."
    # the local cluster's token authentication stays on; its notice is not news at every study
    "ray._private.authentication.authentication_token_setup": logging.ERROR,
}


def quiet_driver() -> None:
    """Silence what would bury the compact view: MLflow's artifact-download bars, colour codes in a
    log file and the INFO / notice lines of ``QUIET_LOGGERS`` (kept with ``--verbose``)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not sys.stdout.isatty():  # a log file: Ray's "(train_gan pid=...)" prefixes without colour codes
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    if not verbose():
        for name, level in QUIET_LOGGERS.items():
            logging.getLogger(name).setLevel(level)


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def sig(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits (``-`` for None)."""
    return "-" if value is None else f"{value:.{digits}g}"


class ConsoleView(tune.Callback):
    """Driver-side compact progress of a sweep (see the module docstring)."""

    def __init__(self, metric: str, mode: str, max_steps: int, planned: dict[str, int],
                 every: float = EVERY_S, out: Callable[[str], None] | None = None,
                 now: Callable[[], float] = time.time):
        self.metric, self.mode, self.max_steps = metric, mode, max_steps
        self.planned = dict(planned)  # GAN -> trials planned
        self.every, self.now = every, now
        self.out = out or (lambda line: print(line, flush=True))
        self.t0 = now()
        self.last_block = self.t0
        self.trials: dict[str, dict] = {}  # trial id -> {gan, step, best, best_step, state}

    def _trial(self, trial) -> dict:
        return self.trials.setdefault(trial.trial_id, {"gan": trial_gan(trial), "step": 0, "best": None,
                                                       "best_step": None, "state": "running"})

    # -- Tune hooks ------------------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        record = self._trial(trial)
        record["state"] = "running"
        resumed = f" (from step {record['step']})" if record["step"] else ""
        self.out(f"[{record['gan']}] trial {trial.trial_id} started{resumed}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        record = self._trial(trial)
        record["step"] = int(result.get(STEP, record["step"]))
        value = result.get(self.metric)
        if value is not None and (record["best"] is None or better(value, record["best"], self.mode)):
            record["best"], record["best_step"] = float(value), record["step"]

    def on_trial_complete(self, iteration, trials, trial, **info):
        record = self._trial(trial)
        diverged = (trial.last_result or {}).get(DIVERGED)
        record["state"] = "failed" if diverged else ("done" if record["step"] >= self.max_steps else "stopped")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._trial(trial)["state"] = "failed"

    def on_step_end(self, iteration, trials, **info):
        if self.now() - self.last_block >= self.every:
            self.print_block()

    # -- the view ----------------------------------------------------------------------------------
    def progress(self) -> tuple[int, int]:
        """(trial steps done, trial steps planned)."""
        planned = sum(self.planned.values()) * self.max_steps
        done = sum(self.max_steps if r["state"] != "running" else min(r["step"], self.max_steps)
                   for r in self.trials.values())
        return done, planned

    def block(self) -> list[str]:
        done, planned = self.progress()
        elapsed = self.now() - self.t0
        share = done / planned if planned else 1.0
        eta = clock(elapsed * (planned - done) / done) if done else "-"
        filled = int(round(share * BAR))
        lines = [f"[{clock(elapsed)}] {'#' * filled}{'.' * (BAR - filled)} {share:.0%} of {planned:,} trial steps, "
                 f"ETA {eta}"]
        width = max(len(g) for g in self.planned) if self.planned else 0
        for gan in self.planned:
            mine = [r for r in self.trials.values() if r["gan"] == gan]
            counts = {s: sum(r["state"] == s for r in mine) for s in ("running", "done", "stopped", "failed")}
            scored = [r for r in mine if r["best"] is not None]
            best = (max if self.mode == "max" else min)(scored, key=lambda r: r["best"]) if scored else None
            shown = f"{sig(best['best'])} (step {best['best_step']})" if best else "-"
            lines.append(f"  {gan:<{width}}  " + "  ".join(f"{k} {v}" for k, v in counts.items())
                         + f"  best {self.metric} {shown}")
        return lines

    def print_block(self) -> None:
        self.last_block = self.now()
        for line in self.block():
            self.out(line)
