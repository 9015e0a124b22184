"""The one registry: a GAN's name -> its objective, variants, defaults and search space.

Adding a GAN touches this file (one ``register_gan`` call), plus its objective in
``trainables/objectives.py`` and its search space in ``search_spaces/<name>.py``.

Presets are partial nested configs applied over the data family's defaults
(``trainables.config.FAMILY_DEFAULTS``), in this order: ``"*"`` (every dataset), then ``"toy"``
or ``"images"``, then the family itself (``toy``, ``mnist``, ``image32``, ``image48``, ``image64``).
A variant's hyperparameter defaults apply when the user picks that variant.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field

from trainables import objectives as O
from trainables.config import ConfigError, build_dataclass, deep_merge


@dataclass(frozen=True)
class GanSpec:
    name: str  # registry key (also the MLflow tag and CLI name)
    objective: type  # an Objective dataclass
    description: str  # one line for `study gans`
    paper: str  # seed the GAN comes from
    metric_learning: bool  # one of the five seeds' metric-learning GANs (not a baseline)
    variants: dict = field(default_factory=dict)  # variant -> hparam defaults; first = default
    presets: dict = field(default_factory=dict)  # "*" | "toy" | "images" | family -> partial config
    space: str | None = None  # "module:function" of its Optuna define-by-run search space

    def __post_init__(self) -> None:
        if not (isinstance(self.objective, type) and issubclass(self.objective, O.Objective)):
            raise TypeError(f"GanSpec {self.name!r}: objective must be an Objective subclass")
        declared = tuple(getattr(self.objective, "variants", ()))
        if tuple(self.variants) != declared:
            raise TypeError(f"GanSpec {self.name!r}: variants {tuple(self.variants)} != objective's {declared}")

    @property
    def default_variant(self) -> str | None:
        return next(iter(self.variants), None)

    def preset_for(self, family: str) -> dict:
        """Partial nested config of this GAN on a data family."""
        out: dict = {}
        group = "toy" if family == "toy" else "images"
        for key in ("*", group, family):
            out = deep_merge(out, self.presets.get(key, {}))
        return out

    def build_objective(self, hparams: dict):
        """Objective instance from user hparams over the (variant's) defaults; validated."""
        if not isinstance(hparams, dict):
            raise ConfigError(f"hparams: expected a mapping, got {type(hparams).__name__}")
        values = dict(hparams)
        if self.variants:
            variant = values.get("variant", self.default_variant)
            if variant not in self.variants:
                raise ConfigError(
                    f"hparams.variant = {variant!r}: accepted values for {self.name} are {', '.join(self.variants)}"
                )
            values = {**self.variants[variant], **values, "variant": variant}
        return build_dataclass(self.objective, values, "hparams")

    def default_hparams(self, variant: str | None = None) -> dict:
        """The flat hyperparameter defaults (of ``variant`` or the default one)."""
        base = {} if variant is None else {"variant": variant}
        return dataclasses.asdict(self.build_objective(base))

    def load_space(self):
        """The search-space function ``space(trial, gan, family) -> flat dict``, imported lazily."""
        if self.space is None:
            raise ConfigError(f"gan = {self.name!r}: has no search space")
        module, _, func = self.space.partition(":")
        return getattr(importlib.import_module(module), func)


GANS: dict[str, GanSpec] = {}


def register_gan(spec: GanSpec) -> GanSpec:
    """Add a GAN; duplicates and wrong types are rejected."""
    if not isinstance(spec, GanSpec):
        raise TypeError(f"register_gan expects a GanSpec, got {type(spec).__name__}")
    if spec.name in GANS:
        raise ValueError(f"GAN {spec.name!r} is already registered")
    GANS[spec.name] = spec
    return spec


def get_gan(name: str) -> GanSpec:
    """The spec of a registered GAN; an unknown name lists the valid ones."""
    try:
        return GANS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"gan = {name!r}: unknown GAN; registered GANs are {', '.join(GANS)}") from None


def metric_learning_gans() -> list[str]:
    return [name for name, spec in GANS.items() if spec.metric_learning]


_IMAGE_ADAM = {"optim": {"lr_d": 2e-4, "lr_g": 2e-4, "beta1_d": 0.5, "beta2_d": 0.999,
                         "beta1_g": 0.5, "beta2_g": 0.999}}

register_gan(GanSpec(
    name="tripletgan", objective=O.TripletGAN, paper="tripletgan.txt", metric_learning=True,
    description="TripletGAN: triplet loss on the sphere, margin c, arc or L2 distance",
    presets={
        "mnist": {"hparams": {"margin": 1.0}},
        "image32": {"hparams": {"margin": 1.6, "embed_dim": 64}, "data": {"batch_size": 256}},
        "image48": {"hparams": {"margin": 1.6, "embed_dim": 128}, "optim": {"lr_d": 1e-4, "lr_g": 2e-4}},
        "image64": {"hparams": {"margin": 1.6, "embed_dim": 16}, "optim": {"lr_d": 1e-4, "lr_g": 1e-4}},
    },
    space="search_spaces.tripletgan:space",
))
register_gan(GanSpec(
    name="mlgan", objective=O.MLGAN, paper="mlgan.txt", metric_learning=True,
    description="MLGAN: intra-class squared L2 vs inter-class L1 embeddings (vanilla/clip/center)",
    variants={"vanilla": {}, "clip": {}, "center": {"lam": 1.0, "beta": 10.0, "embed_dim": 5}},
    # Toy: on grid25 with the PacGAN nets, vanilla and clip collapse (fit 0.02 at 1k steps) while
    # the center variant learns (0.08 at 2k): the paper's remedy for collapse is the default there.
    presets={"images": _IMAGE_ADAM, "toy": {"hparams": {"variant": "center"}}},
    space="search_spaces.mlgan:space",
))
register_gan(GanSpec(
    name="mbgan", objective=O.MBGAN, paper="mbgan.txt", metric_learning=True,
    description="MBGAN: triplet hinge with a data-dependent margin alpha*|x_j - G(z)|",
    # The paper's z ~ U(0,1)^100 belongs to its DCGAN image nets; on the toy MLPs it leaves the
    # generator unable to reach the modes, so toy runs keep the family's N(0, I_128).
    # Toy: the margin alpha * mean|x_j - G(z)| scales with the data's spread; grid25 spans +-4
    # (images +-1), and alpha = 20 never moves the generator there (fit 0.04 at 1k steps) while
    # alpha = 2 learns (0.10 at 2k).
    presets={"toy": {"hparams": {"alpha": 2.0}},
             "images": deep_merge(_IMAGE_ADAM, {"data": {"batch_size": 128},
                                                "net": {"z_dim": 100, "z_dist": "uniform01"}})},
    space="search_spaces.mbgan:space",
))
register_gan(GanSpec(
    name="gngan", objective=O.GNGAN, paper="gngan.txt", metric_learning=True,
    description="GN-GAN: neighbour-embedding auto-encoder + gradient-matching generator",
    variants={"log": {}, "hinge": {}},
    presets={
        # The paper's toy weights (Table 1) on the family's PacGAN nets; its own nets and
        # optimiser are trainables.config.TOY_PAPER_NETS["gngan"]. Neither learns grid25 within
        # 10k CPU steps (mode_coverage.md: collapse onto a few modes, 2% HQ).
        "toy": {"hparams": {"lambda_p": 0.1, "lambda_m1": 0.1, "lambda_m2": 0.1}},
        "images": {"optim": {"lr_d": 2e-4, "lr_g": 2e-4, "beta1_d": 0.5, "beta2_d": 0.9,
                             "beta1_g": 0.5, "beta2_g": 0.9}},
    },
    space="search_spaces.gngan:space",
))
_MMD_PRESETS = {"images": deep_merge(_IMAGE_ADAM, {"data": {"batch_size": 64}, "net": {"sn": "pim"}})}
register_gan(GanSpec(
    name="mmd_rep", objective=O.MMDRepulsive, paper="mmd_repulsive.txt", metric_learning=True,
    description="Repulsive MMD-GAN: L_D(lambda) with the bounded RBF kernel (MMD-rep-b)",
    presets=_MMD_PRESETS, space="search_spaces.mmd_rep:space",
))
register_gan(GanSpec(
    name="mmd_rbf", objective=O.MMDRBF, paper="mmd_repulsive.txt", metric_learning=False,
    description="MMD-GAN baseline: attractive loss, mixture of 5 Gaussian kernels",
    presets=_MMD_PRESETS, space="search_spaces.baselines:space",
))
register_gan(GanSpec(
    name="mmd_rq", objective=O.MMDRQ, paper="mmd_repulsive.txt", metric_learning=False,
    description="MMD-GAN baseline: attractive loss, mixture of 5 rational-quadratic kernels",
    presets=_MMD_PRESETS, space="search_spaces.baselines:space",
))
register_gan(GanSpec(
    name="nsgan", objective=O.NonSaturating, paper="(baseline)", metric_learning=False,
    description="Non-saturating GAN (softplus losses)",
    presets={"images": _IMAGE_ADAM}, space="search_spaces.baselines:space",
))
register_gan(GanSpec(
    name="hinge", objective=O.Hinge, paper="(baseline)", metric_learning=False,
    description="Hinge GAN (SN-GAN's loss)",
    presets={"images": _IMAGE_ADAM}, space="search_spaces.baselines:space",
))
register_gan(GanSpec(
    name="wgan_gp", objective=O.WGANGP, paper="(baseline)", metric_learning=False,
    description="WGAN-GP: Wasserstein critic with gradient penalty 10, n_critic 5",
    presets={"*": {"optim": {"n_critic": 5, "lr_d": 1e-4, "lr_g": 1e-4, "beta1_d": 0.5,
                             "beta2_d": 0.9, "beta1_g": 0.5, "beta2_g": 0.9}}},
    space="search_spaces.baselines:space",
))
