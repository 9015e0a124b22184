"""Search axes every GAN's space shares: data families, the TTUR Adam axes, log-uniform floats.

Contract of every space (``GanSpec.space``): ``space(trial, family) -> dict`` only calls
``trial.suggest_*`` (branches allowed) and returns a **flat** dict of dotted run-config keys
(``{"hparams.margin": 0.7, "optim.lr_d": 2e-4, ...}``); the Optuna parameter names are those
same keys, so the returned dict equals ``trial.params``. Nothing here imports Optuna.

Choice made here (the spec is silent): D and G get **separate** Adam betas
(``optim.beta1_d``, ``optim.beta1_g``, ``optim.beta2_d``, ``optim.beta2_g``), in the spirit of
TTUR (D and G tuned independently). Every paper default has equal D and G betas, so the
defaults are points of this space.
"""

from __future__ import annotations

from trainables.data.families import DATA_FAMILIES, group_of

FAMILIES = tuple(dict.fromkeys(DATA_FAMILIES.values()))  # data families a space accepts

# (low, high) of the log-uniform TTUR learning rates, per family. The toy PacGAN nets default to
# 1e-4 (lr 1e-3 diverges from the modes); MNIST's MLPs use 5e-4; the DCGAN-like image nets 1e-4 - 2e-4.
LR_RANGES = {
    "toy": (2e-5, 1e-3),  # PacGAN nets: 1e-4 learns; D up to 6e-4 with G at 1e-4 and EMA (benchmarks/results/ema_toy.md)
    "mnist": (1e-5, 5e-3),  # TripletGAN MNIST: 5e-4 both
    "image32": (2e-5, 2e-3),  # SN-DCGAN: 1e-4 .. 1e-3 (repulsive-MMD TTUR grid)
    "image48": (2e-5, 2e-3),  # STL-10: 1e-4 / 2e-4
    "image64": (2e-5, 2e-3),  # DCGAN-64: 1e-4 / 2e-4
}
# Choices of the generator-EMA half-life (``ema.halflife_kimg``, thousands of images; 0 = no average),
# per family; the registered defaults (trainables.config.FAMILY_DEFAULTS) are among them. Categorical,
# so that "off" is a point of every space and a study shows what averaging buys.
EMA_HALFLIFE_CHOICES = {
    "toy": (0.0, 1.0, 2.5, 5.0, 10.0),  # batch 100: 10 .. 100 steps (benchmarks/results/ema_toy.md)
    "mnist": (0.0, 2.5, 10.0, 25.0),  # StyleGAN2-ADA / EDM scale: 10 kimg
    "image32": (0.0, 2.5, 10.0, 25.0),
    "image48": (0.0, 2.5, 10.0, 25.0),
    "image64": (0.0, 2.5, 10.0, 25.0),
}
BETA1_RANGE = (0.0, 0.9)  # uniform Adam beta1 (defaults 0.5; GN-GAN toy 0.8)
BETA2_CHOICES = (0.9, 0.99, 0.999)  # categorical Adam beta2 (defaults 0.999; GN-GAN/WGAN-GP 0.9)


def check_family(family: str) -> None:
    """Raise ValueError unless ``family`` is one of the data families."""
    if family not in LR_RANGES:
        raise ValueError(f"family = {family!r}: accepted values are {', '.join(FAMILIES)}")


def family_group(family: str) -> str:
    """``"toy"`` for the toy family, ``"images"`` for every other family (MNIST included)."""
    check_family(family)
    return group_of(family)


def suggest_ttur(trial, family: str) -> dict:
    """TTUR learning rates: ``optim.lr_d`` and ``optim.lr_g`` independently log-uniform on the
    family's range (:data:`LR_RANGES`)."""
    check_family(family)
    low, high = LR_RANGES[family]
    return {
        "optim.lr_d": trial.suggest_float("optim.lr_d", low, high, log=True),
        "optim.lr_g": trial.suggest_float("optim.lr_g", low, high, log=True),
    }


def suggest_betas(trial) -> dict:
    """Adam betas of D and G, separately: beta1 uniform on [0, 0.9], beta2 in {0.9, 0.99, 0.999}."""
    out = {}
    for net in ("d", "g"):
        key1, key2 = f"optim.beta1_{net}", f"optim.beta2_{net}"
        out[key1] = trial.suggest_float(key1, *BETA1_RANGE)
        out[key2] = trial.suggest_categorical(key2, BETA2_CHOICES)
    return out


def suggest_ema(trial, family: str) -> dict:
    """The generator EMA half-life ``ema.halflife_kimg``, one of the family's
    :data:`EMA_HALFLIFE_CHOICES` (0 = off)."""
    check_family(family)
    return {"ema.halflife_kimg": trial.suggest_categorical("ema.halflife_kimg", EMA_HALFLIFE_CHOICES[family])}


def suggest_optim(trial, family: str) -> dict:
    """The training axes every space shares: :func:`suggest_ttur` + :func:`suggest_betas` +
    :func:`suggest_ema`. Also the whole space of the baselines whose loss has no hyperparameter
    (their loss defines the baseline)."""
    return {**suggest_ttur(trial, family), **suggest_betas(trial), **suggest_ema(trial, family)}


def log_float(trial, key: str, bounds: tuple[float, float]) -> float:
    """``trial.suggest_float(key, low, high, log=True)`` with ``bounds = (low, high)``."""
    return trial.suggest_float(key, bounds[0], bounds[1], log=True)
