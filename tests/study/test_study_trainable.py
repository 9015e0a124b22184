"""The trainable's pieces without Ray: trial config merging and the MLflow child-run tracker."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from study.tracking import (PARAM_VALUE_MAX, TAG_GAN, TAG_PARENT, TAG_SEARCHED, TAG_TRIAL_ID,
                            TrialTracker, mlflow_params)
from study.study_file import parse_study
from study.sweep import gan_constants
from study.trial_spec import TrialSpec, TrialStudy
from trainables.config import resolve_config
from trainables.metric_names import LOSS_D, LOSS_G
from trainables.ranking import RankRule


STUDY = {"tracking_uri": "sqlite:///x.db", "experiment_id": "1", "parent_run_id": "p", "study_name": "t"}


def _grid_config(point: dict, base_hparams: dict, gan: str = "mlgan") -> dict:
    base = {"gan": gan, "data": {"name": "ring8"}, "steps": 10, "hparams": base_hparams}
    return {"run": base, "study": {**STUDY, "gan": gan, "search": "grid"}, "grid_point": point}


def test_optuna_point_over_base_conditional_off_falls_back_to_default():
    """The driver's base of an Optuna search leaves out the keys the space owns; the worker's
    merge of a point with the conditional switched off then gives that key its default."""
    run = {"data": {"name": "ring8"}, "steps": 10, "eval": {"every": 5}, "hparams": {"mlgan": {"beta": 20.0, "lam": 9.0}}}
    study = parse_study({"name": "t", "gans": ["mlgan"], "run": run})
    constants = gan_constants(study, "mlgan")
    assert "beta" not in constants["run"].get("hparams", {}) and constants["study"]["search"] == "optuna"
    point = {"hparams.variant": "vanilla", "hparams.lam": 0.7, "optim.lr_d": 3e-4}
    config = {**constants, "study": {**STUDY, **constants["study"]}, **point}
    cfg = resolve_config(TrialSpec.from_config(config).run_config())
    assert cfg.hparams.variant == "vanilla" and cfg.hparams.lam == 0.7
    assert cfg.hparams.beta == 0.0  # beta belongs to `center`: the base's 20 must not leak in
    assert cfg.optim.lr_d == 3e-4


def test_grid_point_keeps_base_values_of_other_axes():
    point = {"hparams.lam": 0.7}
    config = _grid_config(point, {"variant": "center", "beta": 20.0})
    spec = TrialSpec.from_config(config)
    assert spec.point == point and TrialSpec.from_config(spec.to_config()) == spec
    cfg = resolve_config(spec.run_config())
    assert (cfg.hparams.variant, cfg.hparams.beta, cfg.hparams.lam) == ("center", 20.0, 0.7)


def test_trial_config_keys_are_checked_at_the_ray_boundary():
    with pytest.raises(ValueError, match="study.metrik: unknown key"):
        TrialSpec.from_config({"run": {}, "study": {**STUDY, "gan": "nsgan", "metrik": "eval/fit"}})
    with pytest.raises(ValueError, match="study.search = 'sobol': accepted values are optuna, grid"):
        TrialSpec.from_config({"run": {}, "study": {**STUDY, "gan": "nsgan", "search": "sobol"}})
    with pytest.raises(ValueError, match="study.gan: missing"):
        TrialSpec.from_config({"run": {}, "study": STUDY})


def test_ranked_metrics_name_the_ranked_checkpoint():
    """best/<m> at the ranked step for every evaluation metric, best/step, progress counters."""
    evals = [{"step": 0, "eval/fit": 0.9, "eval/hq": 0.7}, {"step": 50, "eval/fit": 0.2, "eval/hq": 0.1},
             {"step": 100, "eval/fit": 0.4, "eval/hq": 0.3}, {"step": 150, "eval/fit": 0.3, "eval/hq": 0.5}]
    got = RankRule("best", after=50).ranked_metrics(evals, "eval/fit", "max")
    assert got == {"best/eval/fit": 0.4, "best/eval/hq": 0.3, "best/step": 100,
                   "trained/steps": 150, "trained/evals": 4}
    assert RankRule("best", after=50).ranked_metrics(evals[:1], "eval/fit", "max") == {
        "trained/steps": 0, "trained/evals": 1}  # the untrained step 0 never ranks
    mean = RankRule("last_k_mean", k=2, after=50).ranked_metrics(evals, "eval/fit", "max")
    assert mean["best/step"] == 150 and mean["best/eval/fit"] == pytest.approx(0.35)


def test_mlflow_params_are_flat_strings_cut_to_the_limit():
    cfg = resolve_config({"gan": "tripletgan"})
    flat = cfg.to_dict()
    flat["net"]["kwargs"] = {"note": "x" * 7000}  # a value longer than MLflow's limit (no arch takes one)
    params = mlflow_params(flat)
    assert params["hparams.margin"] == str(cfg.hparams.margin)
    assert params["optim.lr_d"] == str(cfg.optim.lr_d)
    assert len(params["net.kwargs"]) == PARAM_VALUE_MAX
    assert all(isinstance(v, str) for v in params.values())


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("t", artifact_location=(root / "mlruns").as_uri())
    parent = client.create_run(exp).info.run_id
    study = TrialStudy(tracking_uri=uri, experiment_id=exp, parent_run_id=parent, study_name="t", gan="tripletgan",
                       flush_every=50)
    return client, study


def test_tracker_creates_one_child_and_never_duplicates_points(tracking, tmp_path):
    client, study = tracking
    cfg = resolve_config({"gan": "tripletgan", "data": {"name": "ring8"}})
    point = {"hparams.margin": 0.9}
    first = TrialTracker(study, "trial_a", "train_gan_a", cfg, point)
    run = client.get_run(first.run_id)
    assert run.data.tags[TAG_PARENT] == study.parent_run_id
    assert run.data.tags[TAG_TRIAL_ID] == "trial_a" and run.data.tags[TAG_GAN] == "tripletgan"
    assert json.loads(run.data.tags[TAG_SEARCHED]) == point
    assert run.data.params["hparams.margin"] == str(cfg.hparams.margin)
    # params: what a user compares (GAN, dataset, arch, steps) + the searched keys; the full
    # resolved config is the config.yaml artifact (issue 15)
    assert set(run.data.params) == {"gan", "data.name", "net.arch", "steps", "hparams.margin"}
    local = client.download_artifacts(first.run_id, "config.yaml", str(tmp_path))
    assert yaml.safe_load(Path(local).read_text()) == cfg.to_dict()

    for step in range(1, 121):  # flushes at 50 and 100; 101..120 stay buffered ("crash")
        first.on_losses(step, {LOSS_D: float(step), LOSS_G: -float(step)})
    assert len(client.get_metric_history(first.run_id, LOSS_D)) == 100

    # restart without the run id (crash before the first checkpoint): found by trial-id tag
    second = TrialTracker(study, "trial_a", "train_gan_a", cfg, point)
    assert second.run_id == first.run_id and second.reused
    second.load_high_water([LOSS_D, LOSS_G])
    for step in range(51, 131):  # replays from a checkpoint at step 50
        second.on_losses(step, {LOSS_D: float(step), LOSS_G: -float(step)})
    second.flush()
    history = client.get_metric_history(first.run_id, LOSS_D)
    counts = Counter(m.step for m in history)
    assert sorted(counts) == list(range(1, 131)) and set(counts.values()) == {1}
    assert {m.step: m.value for m in history}[120] == 120.0
    runs = client.search_runs([study.experiment_id], filter_string="tags.trial_id = 'trial_a'")
    assert len(runs) == 1

    other = TrialTracker(study, "trial_b", "train_gan_b", cfg, point)
    assert other.run_id != first.run_id and not other.reused


class _FakeTrial:
    def __init__(self, trial_id: str, step: int):
        self.trial_id, self.last_result, self.error_file = trial_id, {"step": step, "eval/fit": 0.3}, None
        self.config = {"study": {"gan": "tripletgan"}}


@pytest.mark.parametrize(("step", "callback", "status", "reason"), [
    (200, "on_trial_complete", "FINISHED", "completed"),
    (150, "on_trial_complete", "FINISHED", "max_t"),
    (50, "on_trial_complete", "FINISHED", "early_stopped"),
    (50, "on_trial_error", "FAILED", "error"),
])
def test_driver_callback_closes_child_with_the_right_status(tracking, step, callback, status, reason):
    from study.callbacks import TrialRunCloser

    client, study = tracking
    cfg = resolve_config({"gan": "tripletgan", "data": {"name": "ring8"}})
    trial_id = f"closer_{callback}_{step}"
    tracker = TrialTracker(study, trial_id, trial_id, cfg, {})
    tracker.log_metrics({"eval/fit": 0.1}, 0)
    tracker.log_metrics({"eval/fit": 0.3}, step)
    tracker.flush()
    closer = TrialRunCloser(study.tracking_uri, study.experiment_id, study.parent_run_id,
                            "eval/fit", "max", max_steps=200, max_t=150)
    getattr(closer, callback)(0, [], _FakeTrial(trial_id, step))
    run = client.get_run(tracker.run_id)
    assert run.info.status == status and run.data.tags["stop_reason"] == reason
    assert [a.path for a in client.list_artifacts(tracker.run_id, "curves")] == ["curves/eval_fit.png"]
