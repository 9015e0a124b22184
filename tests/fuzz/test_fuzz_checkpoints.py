"""Property-based fuzzing of checkpoint files (issue 14, item 3): random bytes, truncated and
bit-flipped copies of a real checkpoint, valid pickles of foreign objects, other format versions,
and well-formed checkpoints whose config or state does not fit.

Properties:
- `GanRun.from_checkpoint` (what `study sample` rebuilds the best generator with) and trial
  restore either load the file or raise `CheckpointError` with one line naming the file;
- `python -m trainables.train` resuming an output folder whose `latest.pt` is any of those
  sets it aside as `latest.pt.corrupt` (one warning) and resumes from `previous.pt`, as the
  README says; it never ends in a traceback.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
import torch
from _documents import SEED, examples
from hypothesis import example, given, seed
from hypothesis import strategies as st

from trainables.checkpoint import FORMAT_VERSION, KIND, CheckpointError, digest, load_checkpoint, save_checkpoint
from trainables.loop import GanRun

CONFIG = {"gan": "nsgan", "data": {"name": "ring8"}, "steps": 4, "net": {"arch": "toy_triplet"},
          "eval": {"every": 2, "num_samples": 200}}  # small nets: a small checkpoint file



class Blob(bytes):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"<checkpoint of {len(self)} bytes>"


@pytest.fixture(scope="module")
def valid_bytes() -> bytes:
    """A real checkpoint of a 2-step run."""
    run = GanRun(CONFIG)
    run.train_step()
    run.train_step()
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(Path(tmp) / "c.pt", run.checkpoint_payload())
        return Blob(path.read_bytes())


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _payload(valid: bytes) -> dict:
    return torch.load(io.BytesIO(valid), weights_only=True)


FOREIGN = {  # name -> payload edit (a well-formed file that is not a usable checkpoint)
    "list": lambda p: [1, 2, 3], "other kind": lambda p: {"kind": "other"}, "tensor": lambda p: torch.zeros(3),
    "newer format": lambda p: {**p, "format": FORMAT_VERSION + 1}, "older format": lambda p: {**p, "format": 0},
    "no state": lambda p: {k: v for k, v in p.items() if k != "state"},
    "empty state": lambda p: {**p, "state": {"nets": {}}},
    "bad step": lambda p: {**p, "state": {**p["state"], "step": "x"}},
    "other nets": lambda p: {**p, "config": {**p["config"], "net": {"arch": "mlp_mnist"}}},
    "config not a mapping": lambda p: {**p, "config": "not a mapping"},
    "invalid config": lambda p: {**p, "config": {**p["config"], "steps": -3}},
}
# A drawn case is a short description (printed on failure); `materialise` builds its bytes.
CASES = st.one_of(
    st.tuples(st.just("random"), st.binary(max_size=300)),
    st.tuples(st.just("truncate"), st.floats(0.0, 0.999)),
    st.tuples(st.just("flip"), st.floats(0.0, 0.999), st.integers(1, 255)),
    st.tuples(st.just("foreign"), st.sampled_from(sorted(FOREIGN))),
)


def materialise(case: tuple, valid: bytes) -> bytes:
    kind = case[0]
    if kind == "random":
        return case[1]
    if kind == "truncate":
        return valid[:int(case[1] * len(valid))]
    if kind == "flip":
        at = int(case[1] * len(valid))
        return valid[:at] + bytes([valid[at] ^ case[2]]) + valid[at + 1:]
    edited = FOREIGN[case[1]](_payload(valid))
    if isinstance(edited, dict) and "digest" in edited:  # well-formed: its digest fits its content,
        edited["digest"] = digest(edited)  # so the checks after the digest are the ones exercised
    return _torch_bytes(edited)


def _one_line_naming(exc: CheckpointError, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text.strip() and str(path) in text, text


def test_the_valid_checkpoint_loads(valid_bytes, tmp_path):
    path = tmp_path / "ok.pt"
    path.write_bytes(valid_bytes)
    assert GanRun.from_checkpoint(path).step == 2


@examples(120)
@seed(SEED)
@given(case=CASES)
def test_rebuilding_a_run_loads_or_names_the_file(valid_bytes, case):
    content = materialise(case, valid_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "best.pt"
        path.write_bytes(content)
        try:
            run = GanRun.from_checkpoint(path, device="cpu")
        except CheckpointError as exc:
            _one_line_naming(exc, path)
        else:  # only a flip the digest cannot see (e.g. in zip metadata) may load: a whole run
            assert isinstance(run.step, int) and run.step >= 0


@examples(25)
@seed(SEED)
@given(case=CASES)
@example(case=("flip", 0.6328125, 192))  # loaded before checkpoints had a digest: NaN weights, diverged
def test_train_resume_sets_a_bad_latest_aside_and_uses_previous(valid_bytes, case, capsys):
    from trainables.train import main

    content = materialise(case, valid_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        (out / "checkpoints").mkdir(parents=True)
        (out / "checkpoints" / "previous.pt").write_bytes(valid_bytes)
        (out / "checkpoints" / "latest.pt").write_bytes(content)
        capsys.readouterr()
        rc = main(["--gan", "nsgan", "--data", "ring8", "--steps", "4", "--eval-every", "2",
                   "--set", "eval.num_samples=200", "--set", "net.arch=toy_triplet", "--out", str(out)])
        captured = capsys.readouterr()
        assert rc == 0, captured.err[-2000:]
        assert "Traceback" not in captured.err
        if (out / "checkpoints" / "latest.pt.corrupt").exists():  # set aside, resumed from previous
            assert "previous.pt at step 2" in captured.out and "warning:" in captured.err
        else:  # a flipped bit that still loads as the same run
            assert "latest.pt at step 2" in captured.out
        assert load_checkpoint(out / "checkpoints" / "latest.pt")["step"] == 4
        assert _payload(valid_bytes)["kind"] == KIND


@examples(40)
@seed(SEED)
@given(case=CASES)
def test_trial_restore_falls_back_to_the_older_checkpoint(valid_bytes, case, capsys):
    """Tune restores a trial from its latest checkpoint directory: a bad one is skipped with one
    warning naming it, the older valid one is loaded into the run."""
    from ray import tune

    from study.trial_checkpoints import load_trial_checkpoint
    from trainables.checkpoint import CHECKPOINT_NAME

    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "trial"
        for i, content in enumerate((valid_bytes, materialise(case, valid_bytes))):
            (trial / f"checkpoint_{i:06d}").mkdir(parents=True)
            (trial / f"checkpoint_{i:06d}" / CHECKPOINT_NAME).write_bytes(content)
        run = GanRun(CONFIG)
        capsys.readouterr()
        payload = load_trial_checkpoint(tune.Checkpoint(str(trial / "checkpoint_000001")), run)
        out = capsys.readouterr().out
        assert run.step == payload["step"] == 2
        if "unusable checkpoint" in out:
            assert "checkpoint_000001" in out and "older checkpoint" in out and "Traceback" not in out


@pytest.mark.parametrize("case", [("truncate", 0.5), ("foreign", "other nets"), ("random", b"\x00" * 40)])
def test_study_sample_names_an_unusable_best_checkpoint(valid_bytes, case, tmp_path, capsys):
    """`study sample RUN_ID`: a best.pt that cannot be rebuilt is one line naming the file, exit 2."""
    from mlflow import MlflowClient

    from study.cli import main

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("s", artifact_location=(tmp_path / "mlruns").as_uri())
    run_id = client.create_run(experiment).info.run_id
    bad = tmp_path / "best.pt"
    bad.write_bytes(materialise(case, valid_bytes))
    client.log_artifact(run_id, str(bad), "checkpoints")
    capsys.readouterr()  # MLflow's database creation logs
    assert main(["sample", run_id, "--tracking-uri", uri, "-o", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("study: error: ") and "best.pt" in err[0]
    assert not (tmp_path / "g.png").exists()
