"""Study files: validation before Ray starts, one-line errors naming the field, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from study.cli import QUICKSTART, main
from study.study_file import StudyError, load_study, parse_study, smoke_overrides
from trainables.config import resolve_config
from trainables.registry import metric_learning_gans

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "study" / "examples").glob("*.*"))


def _doc(**extra) -> dict:
    base = {"name": "t", "gans": ["tripletgan"], "dataset": {"name": "ring8"},
            "budget": {"max_steps": 100, "eval_every": 20}}
    base.update(extra)
    return base


@pytest.mark.parametrize(("doc", "field"), [
    (_doc(budgett={"max_steps": 1}), "budgett"),
    (_doc(budget={"max_steps": 100, "eval_evry": 20}), "budget.eval_evry"),
    (_doc(budget={"max_steps": -5, "eval_every": 20}), "budget.max_steps"),
    (_doc(budget={"max_steps": 100, "eval_every": 0}), "budget.eval_every"),
    (_doc(budget={"max_steps": "100"}), "budget.max_steps"),
    (_doc(gans=["tripletgan", "stylegan"]), "gans[1]"),
    (_doc(scheduler={"grace_period": 80, "max_t": 50}), "scheduler.grace_period"),
    (_doc(scheduler={"max_t": 500}), "scheduler.max_t"),
    (_doc(scheduler={"type": "hyperband"}), "scheduler.type"),
    (_doc(search={"samples_per_gan": 0}), "search.samples_per_gan"),
    (_doc(search={"sampler": "cmaes"}), "search.sampler"),
    (_doc(resources={"cpu": 0}), "resources.cpu"),
    (_doc(resources={"gpu": -0.5}), "resources.gpu"),
    (_doc(run={"optim": {"lr_x": 1.0}}), "run.optim.lr_x"),
    (_doc(run={"hparams": {"tripletgan": {"margn": 1.0}}}), "run.hparams.tripletgan.margn"),
    (_doc(run={"hparams": {"mbgan": {"alpha": 1.0}}}), "run.hparams.mbgan"),
    (_doc(dataset={"name": "imagenet"}), "dataset.name"),
    (_doc(dataset={"name": "ring8", "batch_size": 1}), "dataset.batch_size"),
    (_doc(search={"grid": {"optim.lr_q": [1e-4]}}), "optim.lr_q"),
    (_doc(search={"grid": "mmd_ttur_lambda"}), "search.grid"),
    (_doc(ray_address="somewhere"), "ray_address"),
    (_doc(name="bad name/with slash"), "name"),
    (_doc(run={"optim": {"lr_d": float("inf")}}), "run.optim.lr_d"),
    (_doc(run={"optim": {"lr_g": float("nan")}}), "run.optim.lr_g"),
    (_doc(resources={"cpu": float("inf")}), "resources.cpu"),
    (_doc(run={"hparams": {"tripletgan": {"margin": float("inf")}}}), "run.hparams.tripletgan.margin"),
])
def test_invalid_field_is_named_in_one_line(doc, field):
    with pytest.raises(StudyError) as info:
        parse_study(doc)
    message = str(info.value)
    assert "\n" not in message
    assert field in message, message


def test_defaults_and_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = parse_study({"name": "q", "run": {"data": {"name": "mnist", "root": "data"}}})
    assert study.gans == tuple(metric_learning_gans())  # default: every metric-learning GAN
    assert study.storage_path == str(tmp_path / "studies")
    assert study.data["root"] == str(tmp_path / "data")
    assert study.tracking_uri == f"sqlite:///{tmp_path}/studies/q/mlflow.db"
    assert study.grace_period == study.eval_every and study.max_t == study.max_steps
    base = study.base_run("tripletgan")
    assert base["device"] == "cpu"  # no GPU share: never grab a visible GPU
    cfg = resolve_config(base)
    assert cfg.steps == study.max_steps and cfg.eval.every == study.eval_every  # the run config's defaults
    assert (study.max_steps, study.eval_every) == (resolve_config({"gan": "tripletgan"}).steps,
                                                   resolve_config({"gan": "tripletgan"}).eval.every)


def test_run_section_takes_the_run_config_names():
    """[run] holds the run config under its own names; the same keys reach every trial."""
    study = parse_study({"name": "r", "gans": ["tripletgan", "mbgan"],
                         "run": {"steps": 300, "seed": 3, "data": {"name": "grid25", "batch_size": 64},
                                 "eval": {"every": 100, "num_samples": 500}, "optim": {"lr_d": 3e-4},
                                 "hparams": {"mbgan": {"alpha": 5.0}}}})
    assert (study.max_steps, study.eval_every, study.dataset_name, study.family) == (300, 100, "grid25", "toy")
    cfg = resolve_config(study.base_run("mbgan"))
    assert (cfg.steps, cfg.seed, cfg.data.batch_size, cfg.eval.every, cfg.eval.num_samples) == (300, 3, 64, 100, 500)
    assert cfg.optim.lr_d == 3e-4 and cfg.hparams.alpha == 5.0
    assert resolve_config(study.base_run("tripletgan")).hparams.margin == 0.5
    assert parse_study(study.to_dict()) == study
    assert "dataset" not in study.to_dict() and "budget" not in study.to_dict()


@pytest.mark.parametrize(("doc", "field"), [
    ({"run": {"steps": 0}}, "run.steps"),
    ({"run": {"eval": {"every": 0}}}, "run.eval.every"),
    ({"run": {"eval": {"every": "often"}}}, "run.eval.every"),
    ({"run": {"steps": 100, "eval": {"every": 200}}}, "run.eval.every"),
    ({"run": {"data": {"name": "ring8", "batch_size": 1}}}, "run.data.batch_size"),
    ({"run": {"data": "ring8"}}, "run.data"),
    ({"run": {"datta": {}}}, "run.datta"),
    ({"dataset": {"name": "ring8"}, "run": {"data": {"name": "ring8"}}}, "dataset"),
    ({"budget": {"max_steps": 100}, "run": {"steps": 100}}, "budget.max_steps"),
])
def test_run_section_errors_name_the_key_as_written(doc, field):
    with pytest.raises(StudyError) as info:
        parse_study({"name": "e", "gans": ["tripletgan"], **doc})
    assert str(info.value).startswith(field) and "\n" not in str(info.value), str(info.value)


def test_older_layout_reads_as_the_run_config():
    """[dataset] / [budget] of older files land under [run]; errors keep the old names."""
    old = parse_study({"name": "o", "gans": ["tripletgan"], "dataset": {"name": "grid25", "batch_size": 64},
                       "budget": {"max_steps": 300, "eval_every": 100}})
    new = parse_study({"name": "o", "gans": ["tripletgan"],
                       "run": {"steps": 300, "data": {"name": "grid25", "batch_size": 64}, "eval": {"every": 100}}})
    assert old == new
    with pytest.raises(StudyError, match=r"^dataset\.batch_size = 1: must be >= 2$"):
        parse_study({"name": "o", "gans": ["tripletgan"], "dataset": {"name": "grid25", "batch_size": 1}})
    with pytest.raises(StudyError, match=r"^budget\.max_steps = 0: must be >= 1$"):
        parse_study({"name": "o", "gans": ["tripletgan"], "budget": {"max_steps": 0}})


def test_uri_storage_keeps_the_driver_files_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = parse_study({"name": "q", "gans": ["mbgan"]})
    assert not local.remote_storage and local.tune_storage == str(tmp_path / "studies" / "q")
    study = parse_study({"name": "q", "gans": ["mbgan"], "storage_path": "s3://bucket/sweeps/",
                         "local_path": "driver"})
    assert study.remote_storage and study.storage_path == "s3://bucket/sweeps/"  # not made a path
    assert study.tune_storage == "s3://bucket/sweeps/q"
    assert study.study_dir == tmp_path / "driver" / "q"
    assert study.tracking_uri == f"sqlite:///{tmp_path}/driver/q/mlflow.db"


def test_trials_get_the_tracking_uri_and_no_credentials(monkeypatch):
    from study.cluster import trial_env

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    monkeypatch.delenv("GAN_DATA_ROOT", raising=False)
    env = trial_env("http://mlflow:5000")
    assert env == {"MLFLOW_TRACKING_URI": "http://mlflow:5000", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}


def test_metric_learning_shorthand_and_duplicates():
    study = parse_study(_doc(gans=["mbgan", "metric_learning"]))
    assert study.gans[0] == "mbgan"
    assert sorted(study.gans) == sorted(metric_learning_gans())


def test_to_dict_round_trip():
    study = parse_study(_doc(search={"grid": {"hparams.margin": [0.5, 1.0]}},
                             run={"hparams": {"tripletgan": {"distance": "l2"}}}))
    again = parse_study(study.to_dict())
    assert again == study
    assert [p["hparams.margin"] for p in again.grid_points("tripletgan")] == [0.5, 1.0]


def test_smoke_overrides_shrink_budget():
    doc = _doc(budget={"max_steps": 10000, "eval_every": 1000}, search={"samples_per_gan": 30})
    small = parse_study(smoke_overrides(doc))
    assert small.name == "t-smoke"
    assert small.max_steps <= 100 and small.samples <= 3
    grid = parse_study(smoke_overrides({"name": "g", "gans": ["mmd_rep"], "dataset": {"name": "ring8"},
                                        "search": {"grid": "mmd_ttur_lambda"}}))
    assert len(grid.grid_points("mmd_rep")) == 2


@pytest.mark.parametrize("path", [QUICKSTART, *EXAMPLES], ids=lambda p: p.name)
def test_shipped_study_files_validate(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    study = load_study(path)
    assert study.gans
    if path == QUICKSTART:
        assert study.dataset_name == "grid25" and study.scheduler.type == "asha"
        assert set(study.gans) <= set(metric_learning_gans()) and len(study.gans) >= 2


def test_mmd_grid_example_has_96_points(monkeypatch):
    monkeypatch.chdir(ROOT)
    study = load_study(ROOT / "study" / "examples" / "mmd_ttur_lambda.toml")
    points = study.grid_points("mmd_rep")
    assert len(points) == 96
    assert len({(p["optim.lr_d"], p["optim.lr_g"]) for p in points}) == 16


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


BAD_FILES = {
    "unknown_key": ('name = "x"\ngans = ["tripletgan"]\n[budget]\nmax_stepz = 10\n', "budget.max_stepz"),
    "unknown_gan": ('name = "x"\ngans = ["tripletgan", "biggan"]\n', "biggan"),
    "negative_budget": ('name = "x"\ngans = ["mbgan"]\n[budget]\nmax_steps = -10\n', "budget.max_steps"),
    "infinite_lr": ('name = "x"\ngans = ["mbgan"]\n[run.optim]\nlr_d = inf\n', "lr_d"),
    # a net option the arch does not have: refused with the accepted ones, not when a trial builds the nets
    "unknown_net_option": ('name = "x"\ngans = ["mmd_rep"]\n[run.data]\nname = "grid25"\n[run.net]\n'
                           'kwargs = {g_depht = 12}\n', "run.net.kwargs.g_depht: not an option of net.arch "
                           "'toy_pacgan'; accepted: g_hidden, g_depth"),
}


def test_cli_non_utf8_study_file_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xff\xfe\x00name = 'x'\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not UTF-8" in err and "s.toml" in err, err
    assert not (tmp_path / "studies").exists()


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_cli_bad_study_exits_2_before_ray(case, tmp_path, capsys, monkeypatch):
    import ray

    monkeypatch.chdir(tmp_path)
    text, field = BAD_FILES[case]
    code = main(["run", str(_write(tmp_path, text))])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and field in err, err
    assert ray.is_initialized() is False
    assert not (tmp_path / "studies").exists()  # nothing created


def test_cli_subprocess_exit_status_and_one_line(tmp_path):
    text, field = BAD_FILES["unknown_gan"]
    path = _write(tmp_path, text, "bad.toml")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "study.cli", "run", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and field in proc.stderr
    assert not (tmp_path / "studies").exists()


def test_yaml_and_parse_errors(tmp_path, capsys):
    bad_yaml = _write(tmp_path, "name: [unclosed\n", "s.yaml")
    assert main(["run", str(bad_yaml)]) == 2
    assert "invalid YAML" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_dry_run_prints_resolved_study_and_starts_nothing(tmp_path, capsys, monkeypatch):
    import ray

    monkeypatch.chdir(tmp_path)
    assert main(["run", "--dry-run", "--smoke-test"]) == 0
    out = capsys.readouterr().out
    assert "name: quickstart-smoke" in out and "steps: 40" in out
    for gan in load_study(QUICKSTART).gans:
        assert f"# {gan}: 2 trials" in out
    assert "# metric: eval/fit (max); trials ranked by best of the evaluations at step >= 10" in out
    assert ray.is_initialized() is False and not (tmp_path / "studies").exists()


def test_gans_and_space_commands(capsys):
    assert main(["gans"]) == 0
    out = capsys.readouterr().out
    for gan in metric_learning_gans():
        assert gan in out
    assert main(["space", "mlgan"]) == 0
    out = capsys.readouterr().out
    assert "hparams.beta" in out and "only when hparams.variant in {center}" in out
    assert main(["space", "nogan"]) == 2
    assert "unknown GAN" in capsys.readouterr().err


def test_search_metric_override():
    study = parse_study(_doc(search={"metric": "eval/modes_20"}))
    assert study.objective == ("eval/modes_20", "max")
    assert study.objective is study.objective  # resolved once per study
    assert parse_study(_doc(search={"metric": "eval/kl"})).objective == ("eval/kl", "min")
    assert parse_study(_doc()).objective == ("eval/fit", "max")
    with pytest.raises(StudyError, match="search.metric"):
        parse_study(_doc(search={"metric": "eval/fid"}))  # no FID on a toy mixture


def test_data_loader_workers_follow_the_trial_cpu_share():
    base = _doc(dataset={"name": "mnist"})
    assert parse_study({**base, "resources": {"cpu": 4}}).base_run("tripletgan")["data"]["num_workers"] == 3
    assert parse_study({**base, "resources": {"cpu": 1}}).base_run("tripletgan")["data"]["num_workers"] == 0
    explicit = parse_study({**base, "dataset": {"name": "mnist", "num_workers": 2}, "resources": {"cpu": 8}})
    assert explicit.base_run("tripletgan")["data"]["num_workers"] == 2


def test_rank_rule_defaults_to_the_first_asha_rung():
    study = parse_study(_doc(scheduler={"type": "asha", "grace_period": 100, "reduction_factor": 3},
                             budget={"max_steps": 1000, "eval_every": 100}))
    rule = study.rank_rule()
    assert (rule.by, rule.after) == ("best", 100)
    assert study.asha_rungs == [100, 300, 900]
    fifo = parse_study(_doc(scheduler={"type": "none"}, search={"rank_by": "last_k_mean", "rank_k": 2}))
    assert fifo.rank_rule().to_dict() == {"by": "last_k_mean", "k": 2, "after": 1}
    with pytest.raises(StudyError, match="^search.rank_by"):
        parse_study(_doc(search={"rank_by": "median"}))
    with pytest.raises(StudyError, match="^search.rank_k"):
        parse_study(_doc(search={"rank_k": 0}))


def test_searched_keys_set_in_run_are_pinned_in_every_trial(tmp_path):
    """A key of the GAN's space that the study file's [run] sets is fixed in every trial (the
    first point, each Optuna suggestion, the PBT mutations) and never searched."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    import search_spaces
    from study.pbt import mutations

    study = parse_study(_doc(run={"ema": {"halflife_kimg": 10.0}, "optim": {"lr_d": 3e-4}}))
    pinned = study.pinned("tripletgan")
    assert pinned == {"ema.halflife_kimg": 10.0, "optim.lr_d": 3e-4}
    first = study.default_point("tripletgan")
    cfg = resolve_config(search_spaces.point_config(study.base_run("tripletgan"), first))
    assert (cfg.ema.halflife_kimg, cfg.optim.lr_d) == (10.0, 3e-4)
    assert first["optim.lr_g"] == parse_study(_doc()).default_point("tripletgan")["optim.lr_g"]  # the rest: defaults
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = OptunaSearch(space=search_spaces.bind_space("tripletgan", study.family, pinned), metric="eval/fit",
                            mode="max", storage=optuna.storages.RDBStorage(storage), study_name="pin",
                            sampler=optuna.samplers.RandomSampler(seed=0))
    for i in range(4):
        point = searcher.suggest(f"t{i}")
        cfg = resolve_config(search_spaces.point_config(study.base_run("tripletgan"), point))
        assert (cfg.ema.halflife_kimg, cfg.optim.lr_d) == (10.0, 3e-4)
    searched = optuna.load_study(study_name="pin", storage=storage).trials
    assert len(searched) == 4 and all("optim.lr_d" not in t.params and "optim.lr_g" in t.params for t in searched)
    assert "optim.lr_d" not in mutations("tripletgan", study.family, pinned)
    assert "optim.lr_d" in mutations("tripletgan", study.family)
