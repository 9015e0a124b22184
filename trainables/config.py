"""The configuration of one GAN run: GAN name + hyperparameters + data + nets + optimisers.

A config is a nested dict of plain values (what a study file, a Ray trial or a checkpoint holds)
resolved into frozen dataclasses by :func:`resolve_config`: the data family's defaults, then the
GAN's spec defaults (registry presets and variant), then the user's values. Unknown keys, wrong
types and out-of-range values raise :class:`ConfigError` with one line naming the field.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


class ConfigError(ValueError):
    """A one-line error naming the offending field and what it accepts."""


# Which family of defaults each dataset belongs to (nets, batch size, optimiser settings).
DATA_FAMILIES = {
    "ring8": "toy",
    "grid25": "toy",
    "mixture": "toy",  # a user-defined 2D mixture (data.mixture)
    "mnist": "mnist",
    "cifar10": "image32",
    "svhn": "image32",
    "stl10": "image48",
    "celeba": "image64",
    "folder": "image64",
}
TOY_DATASETS = ("ring8", "grid25", "mixture")


@dataclass(frozen=True)
class DataConfig:
    name: str = "ring8"  # dataset: ring8 | grid25 | mixture | mnist | cifar10 | svhn | stl10 | celeba | folder
    mixture: dict | None = None  # name = "mixture" only: {kind = ring|grid|means, ...} (trainables.data.toy)
    batch_size: int = 512  # samples per real batch (and per fake batch)
    root: str | None = None  # image datasets: folder holding the data (torchvision's `root`)
    download: bool = False  # image datasets: let torchvision download when missing
    image_size: int | None = None  # `folder` only: side of the centre crop (default 64)
    num_workers: int = 0  # data-loader workers (set from the trial's CPU share on a cluster)
    max_items: int | None = None  # cap the training set (seeded subset; for smoke tests)

    def validate(self) -> None:
        _choice("data.name", self.name, tuple(DATA_FAMILIES))
        if self.name == "mixture":
            from trainables.data.toy import mixture_from_spec

            if self.mixture is None:
                raise ConfigError("data.mixture: missing; the 'mixture' dataset needs "
                                  "{kind = ring|grid|means, ...}")
            try:
                mixture_from_spec(self.mixture)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        elif self.mixture is not None:
            raise ConfigError(f"data.mixture: only used with data.name = 'mixture' (name is {self.name!r})")
        _positive("data.batch_size", self.batch_size, minimum=2)
        _positive("data.num_workers", self.num_workers, minimum=0)
        if self.image_size is not None:
            _positive("data.image_size", self.image_size, minimum=8)
        if self.max_items is not None:
            _positive("data.max_items", self.max_items, minimum=self.batch_size)


@dataclass(frozen=True)
class NetConfig:
    arch: str = "toy_pacgan"  # network family (see trainables.nets.build.ARCHS)
    z_dim: int = 128  # latent dimension
    z_dist: str = "normal"  # prior: normal N(0,I) | uniform U[-1,1] | uniform01 U(0,1)
    sn: str = "none"  # spectral norm on D: none | pim (reshaped matrix) | pico (conv operator)
    kwargs: dict = field(default_factory=dict)  # arch-specific widths/depths/activations

    def validate(self) -> None:
        from trainables.nets.build import ARCHS  # local: nets import torch modules

        _choice("net.arch", self.arch, tuple(ARCHS))
        _positive("net.z_dim", self.z_dim, minimum=1)
        _choice("net.z_dist", self.z_dist, tuple(Z_DISTS))
        _choice("net.sn", self.sn, ("none", "pim", "pico"))


# Latent priors, by name: each maps (n, dim, generator) to an (n, dim) CPU tensor.
Z_DISTS = {
    "normal": lambda n, d, g: torch.randn(n, d, generator=g),
    "uniform": lambda n, d, g: torch.rand(n, d, generator=g) * 2.0 - 1.0,
    "uniform01": lambda n, d, g: torch.rand(n, d, generator=g),
}


@dataclass(frozen=True)
class OptimConfig:
    lr_d: float = 2e-4  # discriminator (critic) Adam learning rate (TTUR: independent of lr_g)
    lr_g: float = 2e-4  # generator Adam learning rate (also the GN-GAN auto-encoder's)
    beta1_d: float = 0.5  # Adam beta1 of D
    beta2_d: float = 0.999  # Adam beta2 of D
    beta1_g: float = 0.5  # Adam beta1 of G
    beta2_g: float = 0.999  # Adam beta2 of G
    n_critic: int = 1  # D steps per iteration
    n_gen: int = 1  # G steps per iteration
    lr_decay: float = 1.0  # multiply both learning rates by this every `lr_decay_every` steps
    lr_decay_every: int = 0  # 0 = no decay (GN-GAN toy: 0.99 every 10k)
    loss_bound: float = 1e6  # a loss that is NaN/Inf or beyond +-loss_bound ends the run as diverged

    def validate(self) -> None:
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"optim.{name} = {value!r}: must be > 0")
        for name in ("beta1_d", "beta2_d", "beta1_g", "beta2_g"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"optim.{name} = {value!r}: must be in [0, 1)")
        _positive("optim.n_critic", self.n_critic, minimum=1)
        _positive("optim.n_gen", self.n_gen, minimum=1)
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(f"optim.lr_decay = {self.lr_decay!r}: must be in (0, 1]")
        _positive("optim.lr_decay_every", self.lr_decay_every, minimum=0)
        if not self.loss_bound > 0:
            raise ConfigError(f"optim.loss_bound = {self.loss_bound!r}: must be > 0")


@dataclass(frozen=True)
class EvalConfig:
    every: int = 500  # evaluate every this many iterations (and at the last one)
    num_samples: int = 2500  # generated samples per evaluation (toy protocol: 2,500)
    seed: int = 1234  # seed of the fixed evaluation noise
    extractor: str | None = None  # images: inception-v3-compat | mnist-classifier (None: by dataset)
    weights_path: str | None = None  # images: local Inception weights file (offline clusters)
    cache_dir: str | None = None  # images: shared directory of real-data statistics
    grid_size: int = 64  # images: samples in the grid image saved at each evaluation
    kid_subsets: int = 100  # images: KID subsets (torch-fidelity's default); 0 = no KID (saves seconds)

    def validate(self) -> None:
        _positive("eval.every", self.every, minimum=1)
        _positive("eval.num_samples", self.num_samples, minimum=2)
        _positive("eval.grid_size", self.grid_size, minimum=1)
        _positive("eval.kid_subsets", self.kid_subsets, minimum=0)


@dataclass(frozen=True)
class RunConfig:
    gan: str  # registered GAN name (see trainables.registry.GANS)
    hparams: Any  # the GAN's objective object (a dataclass of its hyperparameters)
    data: DataConfig = field(default_factory=DataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    steps: int = 5000  # training iterations (one iteration = AE step + n_critic D + n_gen G)
    seed: int = 0  # seeds nets, data stream, noise and penalties
    device: str = "auto"  # auto (CUDA when visible) | cpu | cuda[:i]

    def to_dict(self) -> dict:
        """Plain nested dict (JSON/TOML-able); ``resolve_config(to_dict())`` gives this back."""
        out = dataclasses.asdict(self)
        out["hparams"] = dataclasses.asdict(self.hparams)
        return out

    @property
    def is_toy(self) -> bool:
        return self.data.name in TOY_DATASETS


REPO_ROOT = Path(__file__).resolve().parents[1]


def default_data_root() -> Path:
    """Where datasets live unless ``data.root`` says otherwise: ``$GAN_DATA_ROOT``, else the
    shared data folder beside the repository (``../shared/data``, holds MNIST's test split),
    else ``./data``."""
    if os.environ.get("GAN_DATA_ROOT"):
        return Path(os.environ["GAN_DATA_ROOT"])
    shared = REPO_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else Path("data")


def default_cache_dir() -> Path:
    """Real-data statistics and the MNIST classifier: ``$GAN_CACHE_DIR`` or ~/.cache/metric-gan-studies."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "metric-gan-studies")


TOP_LEVEL_KEYS = ("gan", "hparams", "data", "net", "optim", "eval", "steps", "seed", "device")
SECTIONS = {"data": DataConfig, "net": NetConfig, "optim": OptimConfig, "eval": EvalConfig}

# Defaults of each data family, below every GAN's own presets.
FAMILY_DEFAULTS: dict[str, dict] = {
    # PacGAN / VEEGAN 2D setting (measured in benchmarks/results/mode_coverage.md: the papers' own
    # toy nets barely learn grid25 in a CPU budget): G 4 x FC400 ReLU+BN, D 3 x FC200 maxout-5,
    # z ~ N(0, I_2), batch 100, Adam(1e-4, beta1 0.5) for D and G. The papers' settings stay
    # selectable: TOY_PAPER_NETS below.
    "toy": {"data": {"batch_size": 100}, "net": {"arch": "toy_pacgan", "z_dim": 2},
            "optim": {"lr_d": 1e-4, "lr_g": 1e-4}},
    # TripletGAN appendix B.2: MLPs on 32x32 MNIST, batch 256, lr 5e-4.
    "mnist": {"data": {"batch_size": 256}, "net": {"arch": "mlp_mnist", "z_dim": 128},
              "optim": {"lr_d": 5e-4, "lr_g": 5e-4}},
    # SN-DCGAN (Miyato et al.; repulsive-MMD Table S1), batch 64.
    "image32": {"data": {"batch_size": 64}, "net": {"arch": "sndcgan", "sn": "pim"}},
    "image48": {"data": {"batch_size": 64}, "net": {"arch": "sndcgan", "sn": "pim"}},
    # DCGAN-64 of MBGAN (Tables 1-2) for 64x64 faces and folders.
    "image64": {"data": {"batch_size": 64}, "net": {"arch": "dcgan64"}},
}


# The papers' own toy settings (override the family defaults with one of these to reproduce them;
# study file: [run.net] / [run.optim] / [dataset]). Neither learns grid25 within a CPU budget.
TOY_PAPER_NETS: dict[str, dict] = {
    # TripletGAN appendix B.1: batch 512, G 3xFC128 tanh, D 3xFC32 tanh, z ~ N(0, I_128), lr 2e-4/1e-3.
    "tripletgan": {"data": {"batch_size": 512}, "net": {"arch": "toy_triplet", "z_dim": 128},
                   "optim": {"lr_d": 2e-4, "lr_g": 1e-3}},
    # GN-GAN Table 1: E, G, D 2 x FC64 ReLU, z ~ U[-1, 1]^2, batch 128, Adam(1e-3, beta1 0.8),
    # decay 0.99 every 10k steps.
    "gngan": {"data": {"batch_size": 128}, "net": {"arch": "toy_gngan", "z_dim": 2, "z_dist": "uniform"},
              "optim": {"lr_d": 1e-3, "lr_g": 1e-3, "beta1_d": 0.8, "beta1_g": 0.8,
                        "lr_decay": 0.99, "lr_decay_every": 10000}},
}


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base`` (dicts merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "kwargs":
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def unflatten(flat: dict) -> dict:
    """``{"optim.lr_d": 1e-4, "hparams.margin": 1}`` -> nested dict (search spaces are flat)."""
    out: dict = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: '{part}' is a value, not a section")
        node[parts[-1]] = value
    return out


def flatten(nested: dict, prefix: str = "") -> dict:
    """Inverse of :func:`unflatten` (``net.kwargs`` stays one value)."""
    out = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "kwargs" and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def defaults_for(gan: str, dataset: str) -> dict:
    """The nested default config of ``gan`` on ``dataset`` (family defaults, then GAN presets)."""
    from trainables.registry import get_gan

    spec = get_gan(gan)
    family = DATA_FAMILIES.get(dataset)
    if family is None:
        raise ConfigError(f"data.name = {dataset!r}: accepted values are {', '.join(DATA_FAMILIES)}")
    cfg = deep_merge({"gan": gan, "data": {"name": dataset}}, FAMILY_DEFAULTS[family])
    return deep_merge(cfg, spec.preset_for(family))


def resolve_config(user: dict) -> RunConfig:
    """Validate a user's nested config and fill in every default; see the module docstring."""
    from trainables.registry import get_gan

    if not isinstance(user, dict):
        raise ConfigError(f"config: expected a mapping, got {type(user).__name__}")
    unknown = sorted(set(user) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key; accepted keys are {', '.join(TOP_LEVEL_KEYS)}")
    if "gan" not in user:
        raise ConfigError("gan: missing; name one of the registered GANs")
    spec = get_gan(user["gan"])
    dataset = user.get("data", {}).get("name", DataConfig.name) if isinstance(user.get("data", {}), dict) else None
    if dataset is None:
        raise ConfigError("data: expected a mapping")
    merged = deep_merge(defaults_for(spec.name, dataset), user)

    sections = {}
    for name, cls in SECTIONS.items():
        section = merged.get(name, {})
        sections[name] = build_dataclass(cls, section, name)
        sections[name].validate()
    sections["data"] = dataclasses.replace(sections["data"], root=str(Path(sections["data"].root or default_data_root()).resolve()))
    sections["eval"] = dataclasses.replace(sections["eval"], cache_dir=str(Path(sections["eval"].cache_dir or default_cache_dir()).resolve()))
    hparams = spec.build_objective(merged.get("hparams", {}))
    top = {k: merged[k] for k in ("steps", "seed", "device") if k in merged}
    for key, value in top.items():
        check_type(key, value, RunConfig.__dataclass_fields__[key].type)
    cfg = RunConfig(gan=spec.name, hparams=hparams, **sections, **top)
    _positive("steps", cfg.steps, minimum=1)
    if not (cfg.device == "auto" or cfg.device == "cpu" or cfg.device.startswith("cuda")):
        raise ConfigError(f"device = {cfg.device!r}: accepted values are auto, cpu, cuda, cuda:<index>")
    return cfg


def build_dataclass(cls, values: dict, prefix: str):
    """Instantiate dataclass ``cls`` from ``values``: unknown keys and wrong types are errors."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}: unknown key; accepted keys are {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        kwargs[key] = check_type(f"{prefix}.{key}", value, hints[key])
    return cls(**kwargs)


def check_type(name: str, value, annotation):
    """Check ``value`` against a simple annotation (int/float/str/bool/dict, Optional, Literal).

    Ints are accepted where floats are expected (and converted); bools are never numbers.
    """
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing), {})  # "float | None" style postponed hints
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return check_type(name, value, option)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{name} = {value!r}: accepted values are {', '.join(map(str, allowed))}")
        return value
    if annotation is Any:
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} = {value!r}: expected a number")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{name} = {value!r}: expected an integer")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r}: expected true or false")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} = {value!r}: expected a string")
        return value
    if annotation is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} = {value!r}: expected a mapping")
        return dict(value)
    if annotation is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} = {value!r}: expected a list")
        return tuple(value)
    return value


def _choice(name: str, value, accepted: tuple) -> None:
    if value not in accepted:
        raise ConfigError(f"{name} = {value!r}: accepted values are {', '.join(map(str, accepted))}")


def _positive(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"{name} = {value!r}: must be >= {minimum}")
