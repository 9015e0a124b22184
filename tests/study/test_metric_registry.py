"""Adding a metric is one row plus its function: registered here, in a test module, it is measured by
every toy evaluation, logged to the trial's MLflow run (value and best/), accepted as search.metric
and shown as a leaderboard column, with no other file touched."""

import pytest
import torch

from study import report
from study.study_file import parse_study
from study.tracking import TrialTracker
from study.trial_spec import TrialStudy
from trainables import metric_names as M
from trainables.evaluation import build_evaluator
from trainables.loop import GanRun
from trainables.ranking import RankRule

SPREAD = "eval/spread"


def spread(points: torch.Tensor, mixture) -> float:
    """Mean distance of the generated points to their centroid (a toy measure of spread)."""
    return float((points - points.mean(0)).norm(dim=1).mean())


@pytest.fixture
def registered():
    metric = M.register_metric(M.Metric(SPREAD, "max", (M.TOY,), "spread", "spread", column=True, compute=spread))
    yield metric
    del M.METRICS[SPREAD]


def test_a_registered_metric_reaches_the_evaluation_mlflow_and_the_leaderboard(registered, tmp_path):
    from mlflow import MlflowClient

    run = GanRun({"gan": "nsgan", "data": {"name": "ring8", "batch_size": 64}, "device": "cpu",
                  "eval": {"num_samples": 500}})
    run.train(20, callback=lambda s, l: None)
    metrics = {**build_evaluator(run).evaluate(run), M.STEP: run.step}
    assert metrics[SPREAD] == pytest.approx(spread(build_evaluator(run).samples(run), None), rel=1e-6)

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("t", artifact_location=(tmp_path / "mlruns").as_uri())
    parent = client.create_run(exp).info.run_id
    study = TrialStudy(tracking_uri=uri, experiment_id=exp, parent_run_id=parent, study_name="t", gan="nsgan")
    tracker = TrialTracker(study, "trial_a", "nsgan_trial_a", run.cfg, {})
    tracker.log_metrics({k: v for k, v in metrics.items() if k != M.STEP}, run.step)
    tracker.log_metrics(RankRule("best").ranked_metrics([metrics], M.EVAL_FIT, "max"), run.step)
    tracker.flush()
    logged = client.get_run(tracker.run_id).data.metrics
    assert logged[SPREAD] == pytest.approx(metrics[SPREAD]) and M.best_of(SPREAD) in logged

    rows = report.leaderboard(uri, exp, parent)
    assert rows[0]["extras"][SPREAD] == pytest.approx(metrics[SPREAD])
    assert SPREAD in report.format_table(rows).splitlines()[0]
    assert parse_study({"name": "s", "gans": ["nsgan"], "run": {"data": {"name": "ring8"}},
                        "search": {"metric": SPREAD}}).search.metric == SPREAD


def test_registering_checks_the_row(registered):
    with pytest.raises(ValueError, match="must be a new 'eval/<name>' key"):
        M.register_metric(registered)
    with pytest.raises(ValueError, match="needs its compute function"):
        M.register_metric(M.Metric("eval/other", "max", (M.TOY,), "other", "other"))
    assert SPREAD in report.extra_columns(M.EVAL_FIT) and SPREAD not in report.extra_columns(SPREAD)
