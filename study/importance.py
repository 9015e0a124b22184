"""Hyperparameter importance of each GAN's search: Optuna's fANOVA (Hutter et al., ICML 2014)
on the GAN's Optuna study (``<study>-<gan>`` in ``optuna.db``), computed at the end of a study.

fANOVA fits a random forest of the trials' values on their parameters and splits the variance
of its prediction into each parameter's share (normalised to sum to 1). Parameters that exist
only under some variants are left out by Optuna (it uses those every completed trial has). A
GAN needs at least ``MIN_TRIALS`` completed trials with differing values; grid GANs have no
Optuna study and get none. In a Pareto search (``search.metrics``) the importances are those of
the first (ranked) metric.
"""

from __future__ import annotations

import optuna

MIN_TRIALS = 4  # fewer completed trials say nothing about importance


def param_importances(study_name: str, storage: str) -> dict[str, float] | None:
    """``{param: share}`` (largest first) of one Optuna study, or None when it cannot say."""
    try:
        searched = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # no such study (a grid GAN)
        return None
    done = searched.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < MIN_TRIALS or len({t.values[0] for t in done}) < 2:
        return None
    try:
        shares = optuna.importance.get_param_importances(
            searched, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            target=(lambda t: t.values[0]) if len(searched.directions) > 1 else None)
    except (ValueError, RuntimeError):  # e.g. no parameter common to every trial
        return None
    return {name: float(share) for name, share in shares.items()}


def format_importances(by_gan: dict[str, dict[str, float]], top: int = 4) -> str:
    """One line per GAN: its ``top`` parameters and their shares."""
    lines = []
    for gan, shares in by_gan.items():
        parts = ", ".join(f"{k.split('.')[-1]} {v:.2f}" for k, v in list(shares.items())[:top])
        lines.append(f"  {gan}: {parts}")
    return "\n".join(lines)
