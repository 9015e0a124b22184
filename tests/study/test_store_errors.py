"""A tracking store that stops answering: recognised through MLflow's exception chain, and the
CLI's one line with its own exit status (75, resumable) instead of a traceback."""

from __future__ import annotations

import pytest
from _servers import free_port

from study import cli
from study.sweep import TrackingStoreDown
from study.tracking import store_unreachable


def test_a_refused_connection_after_mlflows_retries_is_recognised(monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(MlflowException) as info:
        MlflowClient(f"http://127.0.0.1:{free_port()}").get_experiment("0")  # nothing listens there
    assert store_unreachable(info.value)
    assert not store_unreachable(MlflowException("RESOURCE_DOES_NOT_EXIST: no run 'x'"))
    assert not store_unreachable(ValueError("bad value"))


def test_cli_prints_one_line_and_exits_75_when_the_store_is_down(monkeypatch, capsys):
    import study.lifecycle

    def down(_study):
        raise TrackingStoreDown("study quickstart: the MLflow tracking store http://x stopped answering; "
                                "... study resume /s/quickstart")

    monkeypatch.setattr(study.lifecycle, "run_study", down)
    assert cli.main(["run"]) == cli.EXIT_STORE_DOWN == 75
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith("study resume /s/quickstart")
