"""What a GAN module declares: its objective (a small class holding its hyperparameters, NVlabs
EDM style) and its :class:`GanSpec` (name, defaults per data family, search space).

Each objective is a frozen dataclass whose fields are the GAN's hyperparameters; it validates
them on construction (one-line :class:`~trainables.schema.ConfigError` naming ``hparams.<field>``)
and turns networks + fresh batches into the scalar losses of ``trainables.losses``:

- ``d_loss(nets, draw)``: the discriminator/critic loss of one D step;
- ``g_loss(nets, draw)``: the generator loss of one G step;
- ``ae_loss(nets, draw)``: the auto-encoder loss (only when ``needs_encoder``);
- ``after_d_step(nets)``: anything done after D's optimiser step (MLGAN weight clipping).

``nets`` maps "G", "D" (and "E") to modules; ``draw.real()`` returns a fresh real batch and
``draw.z(n)`` fresh latent codes. Fakes used in a D step are detached from G.

Variants are declared once, on the objective: ``variants = {name: hparam defaults}`` (the first
is the default); the spec, the config validation and the search spaces read them from there.

Presets are partial nested configs applied over the data family's defaults
(``trainables.config.FAMILY_DEFAULTS``), in this order: ``"*"`` (every dataset), then ``"toy"``
or ``"images"``, then the family itself (``toy``, ``mnist``, ``image32``, ``image48``, ``image64``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch

from trainables.data.families import group_of
from trainables.schema import ConfigError, build_dataclass, deep_merge


def require(cond: bool, field: str, value, accepted: str) -> None:
    """Raise ``ConfigError("hparams.<field> = <value>: <accepted>")`` unless ``cond``."""
    if not cond:
        raise ConfigError(f"hparams.{field} = {value!r}: {accepted}")


def fakes(nets, draw, n: int | None = None, detach: bool = True) -> torch.Tensor:
    """``G(z)`` for a fresh batch of codes (detached from G unless ``detach=False``)."""
    z = draw.z(n if n is not None else draw.batch_size)
    fake = nets["G"](z)
    return fake.detach() if detach else fake


@dataclass(frozen=True)
class Objective:
    """Base class: structure flags shared by all objectives."""

    embed_dim: int = 1  # width K of D's output (1: a scalar score)

    normalize_embedding: ClassVar[bool] = False  # project D's output onto the unit sphere
    needs_encoder: ClassVar[bool] = False  # GN-GAN: an encoder E and an auto-encoder step
    double_backward: ClassVar[bool] = False  # a loss differentiates D's input gradients (penalties)
    variants: ClassVar[dict] = {}  # variant name -> its hparam defaults; first = default

    def __post_init__(self) -> None:
        require(isinstance(self.embed_dim, int) and self.embed_dim >= 1, "embed_dim", self.embed_dim,
                "must be an integer >= 1")
        if self.variants:
            variant = getattr(self, "variant", None)
            require(variant in self.variants, "variant", variant,
                    f"accepted values are {', '.join(self.variants)}")

    def ae_loss(self, nets, draw) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no auto-encoder step")

    def after_d_step(self, nets) -> None:
        """Hook run after each D optimiser step (default: nothing)."""


@dataclass(frozen=True)
class FunctionalGAN(Objective):
    """A GAN whose losses are pure functions of D's outputs on one real and one fake batch:
    ``d_fn(D(x), D(G(z)))`` and ``g_fn(D(x), D(G(z)))`` (or ``g_fn(D(G(z)))``)."""

    d_fn: ClassVar = None
    g_fn: ClassVar = None
    g_uses_real: ClassVar[bool] = True  # does the generator loss see D(x)?

    def outputs(self, nets, x):
        return nets["D"](x)

    def d_loss(self, nets, draw):
        x, y = draw.real(), fakes(nets, draw)
        return type(self).d_fn(self.outputs(nets, x), self.outputs(nets, y))

    def g_loss(self, nets, draw):
        fake_out = self.outputs(nets, fakes(nets, draw, detach=False))
        if not self.g_uses_real:
            return type(self).g_fn(fake_out)
        return type(self).g_fn(self.outputs(nets, draw.real()), fake_out)


@dataclass(frozen=True)
class ScalarGAN(FunctionalGAN):
    """A GAN whose D outputs one score per sample; subclasses name the pure losses."""

    embed_dim: int = 1  # D outputs one score

    g_uses_real: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.embed_dim == 1, "embed_dim", self.embed_dim, "this GAN's D outputs one score: use 1")

    def outputs(self, nets, x):
        return nets["D"](x).reshape(-1)


@dataclass(frozen=True)
class GanSpec:
    """Everything the platform knows about one GAN; a GAN module exposes one as ``GAN``."""

    name: str  # registry key (also the MLflow tag and CLI name)
    objective: type  # an Objective dataclass
    description: str  # one line for `study gans`
    paper: str  # seed the GAN comes from
    metric_learning: bool  # one of the five seeds' metric-learning GANs (not a baseline)
    space: Callable | None = None  # Optuna define-by-run space: space(trial, family) -> flat dict
    # "*" | "toy" | "images" | family | "<family>/<arch>" (the nets' own settings on that family,
    # over the family's: applied when the run's net.arch is that arch) -> partial config
    presets: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.objective, type) and issubclass(self.objective, Objective)):
            raise TypeError(f"GanSpec {self.name!r}: objective must be an Objective subclass")
        if self.space is not None and not callable(self.space):
            raise TypeError(f"GanSpec {self.name!r}: space must be a function space(trial, family)")

    @property
    def variants(self) -> dict:
        return self.objective.variants

    @property
    def default_variant(self) -> str | None:
        return next(iter(self.variants), None)

    def preset_for(self, family: str) -> dict:
        """Partial nested config of this GAN on a data family."""
        out: dict = {}
        for key in ("*", group_of(family), family):
            out = deep_merge(out, self.presets.get(key, {}))
        return out

    def nets_preset(self, family: str, arch: str) -> dict:
        """Partial nested config of this GAN with the nets ``arch`` on a data family (its
        ``"<family>/<arch>"`` preset; applied over :meth:`preset_for`)."""
        return self.presets.get(f"{family}/{arch}", {})

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

    def load_space(self) -> Callable:
        """The search-space function ``space(trial, family) -> flat dict``."""
        if self.space is None:
            raise ConfigError(f"gan = {self.name!r}: has no search space")
        return self.space


@dataclass(frozen=True)
class MMDMixture(FunctionalGAN):
    """Attractive MMD-GAN with a kernel mixture: L_D = -MMD^2, L_G = MMD^2 (spec section 5);
    subclasses name the kernel's pure losses."""

    embed_dim: int = 16  # K

