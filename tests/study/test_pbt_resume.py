"""PBT and PB2 studies survive a SIGKILLed driver (issue 33, item 3): `study resume` completes
the population with its lineage intact and every member's evaluations in MLflow once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MEMBERS, MAX_STEPS, EVAL_EVERY = 3, 240, 20
STUDY = """
name = "{name}"
gans = ["tripletgan"]
max_concurrent = {members}  # the whole population at once (PBT compares members at the same steps)
[resources]
cpu = 0.5
[dataset]
name = "ring8"
[run.eval]
num_samples = 300
[run.net]
arch = "toy_triplet"  # small nets: this test is about the driver's life cycle, not quality
[budget]
max_steps = {max_steps}
eval_every = {every}
[search]
samples_per_gan = {members}
seed = 1
[scheduler]
type = "{kind}"
perturbation_interval = {interval}
quantile_fraction = 0.5
"""


def own_checkpoints(study_dir: Path, trial_id: str) -> list[dict]:
    """The payloads of the checkpoints ``trial_id`` wrote itself, by (step, Ray's index)."""
    from study.trial_checkpoints import checkpoint_index
    from trainables.checkpoint import load_checkpoint

    paths = study_dir.glob("sweep/*/checkpoint_*/checkpoint.pt")
    own = [(load_checkpoint(p), checkpoint_index(str(p.parent))) for p in paths]
    return [c for c, _ in sorted(own, key=lambda ci: (ci[0]["step"], ci[1])) if c.get("trial_id") == trial_id]


@pytest.mark.parametrize("kind", ["pbt", "pb2"])
def test_population_resumes_after_a_driver_kill(tmp_path, kind):
    from mlflow import MlflowClient

    from study.tracking import TAG_PBT_LINEAGE, TAG_PLACEMENTS, TAG_TRIAL_ID, children
    from trainables.train import eval_steps

    name = f"pop_{kind}"
    (tmp_path / "s.toml").write_text(STUDY.format(name=name, max_steps=MAX_STEPS, every=EVAL_EVERY, members=MEMBERS,
                                                  kind=kind, interval=2 * EVAL_EVERY))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    study_dir = tmp_path / "studies" / name
    with open(tmp_path / "run.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "study.cli", "run", "s.toml"], cwd=tmp_path, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    killed, deadline, before = False, time.time() + 300, {}
    while proc.poll() is None and time.time() < deadline:
        try:
            state = json.loads((study_dir / "study_state.json").read_text())
            client = MlflowClient(state["tracking_uri"])
            runs = children(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])
            steps = {r.info.run_id: max((m.step for m in client.get_metric_history(r.info.run_id, "eval/fit")),
                                        default=-1) for r in runs}
        except Exception:  # not created yet
            time.sleep(0.3)
            continue
        if len(runs) == MEMBERS and 2 * EVAL_EVERY <= min(steps.values()) < MAX_STEPS:
            os.kill(proc.pid, signal.SIGKILL)  # mid-population: past a perturbation, a member still running
            killed = True
            before = {r.data.tags[TAG_TRIAL_ID]: json.loads(r.data.tags.get(TAG_PBT_LINEAGE, "[]"))
                      for r in children(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])}
            break
        time.sleep(0.3)
    proc.wait(timeout=60)
    assert killed, (tmp_path / "run.log").read_text()[-3000:]

    resumed = subprocess.run([sys.executable, "-m", "study.cli", "resume", str(study_dir)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    state = json.loads((study_dir / "study_state.json").read_text())
    assert state["status"] == "done"
    client = MlflowClient(state["tracking_uri"])
    live = [r for r in children(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])
            if r.data.tags.get("stop_reason") != "orphaned"]
    assert sorted(r.data.tags[TAG_TRIAL_ID] for r in live) == sorted(before)  # the same members, each once
    schedule = eval_steps(0, MAX_STEPS, EVAL_EVERY)
    for run in live:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "eval/fit")]
        lineage = json.loads(run.data.tags.get(TAG_PBT_LINEAGE, "[]"))
        assert len(steps) == len(set(steps)) and set(steps) <= set(schedule), steps  # no evaluation twice
        # none missing, except where the member copied a donor ahead of it: it goes on from the
        # donor's step (that evaluation is in the donor's run) and evaluates next one interval on;
        # a member that copied a finished donor has nothing left to train and evaluates that copy
        copied_at = {e["step"] for e in lineage}
        assert min(steps) == 0 and max(steps) == MAX_STEPS, (steps, lineage)
        ordered = sorted(steps)
        for a, b in zip(ordered, ordered[1:]):
            assert (b - a == EVAL_EVERY or (b - EVAL_EVERY in copied_at and b - EVAL_EVERY > a)
                    or (b == MAX_STEPS and b in copied_at)), (steps, lineage)
        assert lineage[:len(before[run.data.tags[TAG_TRIAL_ID]])] == before[run.data.tags[TAG_TRIAL_ID]]
        # each exploit once, however often Ray started the member from that copy (a pause, the
        # resume), each at a step the member (re)started from; not necessarily in step order (a
        # donor's checkpoint is from its last perturbation, possibly behind the member)
        assert len({json.dumps(e, sort_keys=True) for e in lineage}) == len(lineage), lineage
        starts = {p["step"] for p in json.loads(run.data.tags[TAG_PLACEMENTS])}
        assert copied_at <= starts, (lineage, starts)
        # its last own checkpoint carries the lineage its weights descend from (a start from one
        # resets the tag to it), also after copying a finished donor (it reports that copy)
        last = own_checkpoints(study_dir, run.data.tags[TAG_TRIAL_ID])[-1]
        assert last["pbt_lineage"] == lineage, (last["pbt_lineage"], lineage)
    assert json.loads((study_dir / "leaderboard.json").read_text())[0]["trials"] == MEMBERS
