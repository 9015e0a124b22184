"""Hyperparameter importance at the end of a study (issue 13, item 6): fANOVA on a GAN's Optuna
study names the parameter that drives the metric; no answer for too few trials or no study."""

from __future__ import annotations

import math

import optuna
import pytest

from study.importance import MIN_TRIALS, format_importances, param_importances


def _study(tmp_path, name, n):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=3))

    def objective(trial):
        lr = trial.suggest_float("optim.lr_d", 1e-5, 1e-2, log=True)
        trial.suggest_float("hparams.margin", 0.1, 2.0)  # no effect on the value
        if trial.suggest_categorical("hparams.variant", ["a", "b"]) == "b":
            trial.suggest_float("hparams.beta", 1.0, 10.0)  # conditional: left out
        return -abs(math.log10(lr) + 3.5)

    study.optimize(objective, n_trials=n)
    return storage


def test_fanova_names_the_parameter_that_drives_the_metric(tmp_path):
    storage = _study(tmp_path, "s-tripletgan", 24)
    shares = param_importances("s-tripletgan", storage)
    assert list(shares)[0] == "optim.lr_d" and shares["optim.lr_d"] > 0.5
    assert "hparams.beta" not in shares
    assert sum(shares.values()) == pytest.approx(1.0)
    assert "tripletgan: lr_d" in format_importances({"tripletgan": shares})


def test_no_importances_without_enough_trials_or_study(tmp_path):
    storage = _study(tmp_path, "s-few", MIN_TRIALS - 1)
    assert param_importances("s-few", storage) is None
    assert param_importances("s-grid-gan", storage) is None  # grid GANs have no Optuna study
