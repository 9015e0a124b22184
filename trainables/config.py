"""The configuration of one GAN run: GAN name + hyperparameters + data + nets + optimisers.

A config is a nested dict of plain values (what a study file, a Ray trial or a checkpoint holds)
resolved into frozen dataclasses by :func:`resolve_config`: the data family's defaults, then the
GAN's spec defaults (registry presets and variant), then the user's values. Unknown keys, wrong
types and out-of-range values raise :class:`ConfigError` with one line naming the field.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainables.data.families import DATA_FAMILIES, DATA_GROUPS, TOY_DATASETS, group_of
from trainables.data.toy import mixture_from_spec
from trainables.nets.build import ARCHS, arch_kwargs_of
from trainables.registry import get_gan, load_gan_module
from trainables.schema import (ConfigError, at_least, bound, build_dataclass, check_field, check_type,
                               choice, deep_merge, flatten, unflatten)

_POSITIVE = bound(gt=0)  # learning rates, loss bound
_BETA = bound(ge=0, lt=1)  # Adam betas

__all__ = ["DATA_FAMILIES", "DataConfig", "EmaConfig", "EvalConfig", "PerfConfig", "FAMILY_DEFAULTS", "NetConfig",
           "OptimConfig", "RunConfig", "DATA_GROUPS", "TOY_DATASETS", "group_of", "TOY_PAPER_NETS", "Z_DISTS", "build_dataclass",
           "check_type", "deep_merge", "default_cache_dir", "default_data_root", "defaults_for", "flatten",
           "resolve_config", "unflatten"]


ON_DEVICE = ("auto", "always", "never")  # data.on_device: where an in-memory image set lives on CUDA


@dataclass(frozen=True)
class DataConfig:
    name: str = "ring8"  # dataset: ring8 | grid25 | mixture | mnist | cifar10 | svhn | stl10 | celeba | folder
    mixture: dict | None = None  # name = "mixture" only: {kind = ring|grid|means, ...} (trainables.data.toy)
    batch_size: int = field(default=512, metadata=bound(ge=2))  # samples per real batch (and per fake batch)
    root: str | None = None  # image datasets: folder holding the data (torchvision's `root`)
    download: bool = False  # image datasets: let torchvision download when missing
    image_size: int | None = field(default=None, metadata=bound(ge=8))  # `folder` only: centre crop side (default 64)
    num_workers: int = field(default=0, metadata=bound(ge=0))  # data-loader workers (from the trial's CPU share on a cluster)
    max_items: int | None = None  # cap the training set (seeded subset; for smoke tests)
    # CUDA, in-memory image sets (mnist, cifar10, svhn, stl10): auto = held on the GPU when it takes
    # <= 1/4 of free memory, else pinned host copies | always (error if it does not fit) | never
    on_device: str = "auto"

    def validate(self) -> None:
        choice("data.name", self.name, tuple(DATA_FAMILIES))
        if self.name == "mixture":
            if self.mixture is None:
                raise ConfigError("data.mixture: missing; the 'mixture' dataset needs "
                                  "{kind = ring|grid|means, ...}")
            try:
                mixture_from_spec(self.mixture)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        elif self.mixture is not None:
            raise ConfigError(f"data.mixture: only used with data.name = 'mixture' (name is {self.name!r})")
        if self.max_items is not None:
            at_least("data.max_items", self.max_items, minimum=self.batch_size)
        choice("data.on_device", self.on_device, ON_DEVICE)


@dataclass(frozen=True)
class NetConfig:
    arch: str = "toy_pacgan"  # network family (see trainables.nets.build.ARCHS)
    z_dim: int = field(default=128, metadata=bound(ge=1))  # latent dimension
    z_dist: str = "normal"  # prior: normal N(0,I) | uniform U[-1,1] | uniform01 U(0,1)
    sn: str = "none"  # spectral norm on D: none | pim (reshaped matrix) | pico (conv operator)
    # factor on every SN layer of D (scale * W / sigma): official repulsive MMD-GAN act_k = 64^(1/8)
    sn_scale: float = field(default=1.0, metadata=bound(gt=0))
    kwargs: dict = field(default_factory=dict)  # arch-specific widths/depths/activations (others: an error naming the arch's)

    def validate(self) -> None:
        choice("net.arch", self.arch, tuple(ARCHS))
        options = arch_kwargs_of(self.arch)
        for key in self.kwargs:  # the builder would refuse them too, but only once a trial has started
            if key not in options:
                raise ConfigError(f"net.kwargs.{key}: not an option of net.arch {self.arch!r}; accepted: "
                                  f"{', '.join(options) or 'none'}")
        choice("net.z_dist", self.z_dist, tuple(Z_DISTS))
        choice("net.sn", self.sn, ("none", "pim", "pico"))


# Latent priors, by name: each maps (n, dim, generator) to an (n, dim) CPU tensor.
Z_DISTS = {
    "normal": lambda n, d, g: torch.randn(n, d, generator=g),
    "uniform": lambda n, d, g: torch.rand(n, d, generator=g) * 2.0 - 1.0,
    "uniform01": lambda n, d, g: torch.rand(n, d, generator=g),
}


@dataclass(frozen=True)
class OptimConfig:
    lr_d: float = field(default=2e-4, metadata=_POSITIVE)  # D (critic) Adam lr (TTUR: independent of lr_g)
    lr_g: float = field(default=2e-4, metadata=_POSITIVE)  # G Adam lr (also the GN-GAN auto-encoder's)
    beta1_d: float = field(default=0.5, metadata=_BETA)  # Adam beta1 of D
    beta2_d: float = field(default=0.999, metadata=_BETA)  # Adam beta2 of D
    beta1_g: float = field(default=0.5, metadata=_BETA)  # Adam beta1 of G
    beta2_g: float = field(default=0.999, metadata=_BETA)  # Adam beta2 of G
    n_critic: int = field(default=1, metadata=bound(ge=1))  # D steps per iteration
    n_gen: int = field(default=1, metadata=bound(ge=1))  # G steps per iteration
    lr_decay: float = field(default=1.0, metadata=bound(gt=0, le=1))  # lr factor every `lr_decay_every` steps
    lr_decay_every: int = field(default=0, metadata=bound(ge=0))  # 0 = no decay (GN-GAN toy: 0.99 every 10k)
    loss_bound: float = field(default=1e6, metadata=_POSITIVE)  # |loss| beyond it (or NaN) ends the run as diverged


@dataclass(frozen=True)
class EvalConfig:
    every: int = field(default=500, metadata=bound(ge=1))  # evaluate every this many iterations (and at the last one)
    num_samples: int = field(default=2500, metadata=bound(ge=2))  # generated samples per evaluation (toy: 2,500)
    seed: int = 1234  # seed of the fixed evaluation noise
    extractor: str | None = None  # images: inception-v3-compat | mnist-classifier (None: by dataset)
    weights_path: str | None = None  # images: local Inception weights file (offline clusters)
    cache_dir: str | None = None  # images: shared directory of real-data statistics
    grid_size: int = field(default=64, metadata=bound(ge=1))  # images: samples in the grid saved at each evaluation
    kid_subsets: int = field(default=100, metadata=bound(ge=0))  # images: KID subsets (torch-fidelity's); 0 = no KID
    # eval/precision, eval/recall (k = 3, trainables.metrics.prc). None: on for 2D mixtures (0.33 s
    # per evaluation of 2,500 points on one CPU core) and the MNIST classifier's 128-d features
    # (6.9 s for 10k digits); on for Inception's 2048-d features only on CUDA (23 s for 10k on CPU).
    prc: bool | None = None


@dataclass(frozen=True)
class EmaConfig:
    """Generator EMA (``trainables.ema``): evaluations, samples, ``best.pt`` and the registered model
    use the averaged generator; ``halflife_kimg = 0`` turns it off (the raw generator is used)."""

    halflife_kimg: float = field(default=0.0, metadata=bound(ge=0))  # half-life in thousands of images; 0 = off
    rampup: float | None = field(default=0.05, metadata=bound(gt=0))  # half-life <= rampup x images so far (EDM's 0.05); None = no ramp-up
    bn_stats: str = "copy"  # the average's BatchNorm statistics: copy (G's) | standing (recomputed before it generates)

    def validate(self) -> None:
        choice("ema.bn_stats", self.bn_stats, ("copy", "standing"))

    @property
    def on(self) -> bool:
        return self.halflife_kimg > 0


CONV_ARCHS = ("sndcgan", "dcgan64")  # the convolutional nets (channels_last applies to them)


@dataclass(frozen=True)
class PerfConfig:
    """Speed options of the training step; each is tested against the default on CPU."""

    amp: str = "none"  # none | bf16: autocast of the step (trainables/precision.py: what stays float32)
    channels_last: bool = False  # conv nets only (sndcgan, dcgan64): NHWC memory format for G, D and real batches
    compile: bool = False  # torch.compile of G and D (not with losses that differentiate twice: wgan_gp, gngan)

    def validate(self) -> None:
        choice("perf.amp", self.amp, ("none", "bf16"))


@dataclass(frozen=True)
class RunConfig:
    gan: str  # registered GAN name (see trainables.registry.GANS)
    hparams: Any  # the GAN's objective object (a dataclass of its hyperparameters)
    data: DataConfig = field(default_factory=DataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    perf: PerfConfig = field(default_factory=PerfConfig)
    steps: int = field(default=5000, metadata=bound(ge=1))  # iterations (one = AE step + n_critic D + n_gen G)
    seed: int = 0  # seeds nets, data stream, noise and penalties
    device: str = "auto"  # auto (CUDA when visible) | cpu | cuda[:i]
    gan_module: str | None = None  # module defining a GAN outside trainables/gans (imported first)

    def to_dict(self) -> dict:
        """Plain nested dict (JSON/TOML-able); ``resolve_config(to_dict())`` gives this back."""
        out = dataclasses.asdict(self)
        out["hparams"] = dataclasses.asdict(self.hparams)
        return out

    @property
    def is_toy(self) -> bool:
        return group_of(self.data.name) == "toy"


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


TOP_LEVEL_KEYS = ("gan", "gan_module", "hparams", "data", "net", "optim", "eval", "ema", "perf", "steps", "seed", "device")
SECTIONS = {"data": DataConfig, "net": NetConfig, "optim": OptimConfig, "eval": EvalConfig, "ema": EmaConfig,
            "perf": PerfConfig}

# Defaults of each data family, below every GAN's own presets.
FAMILY_DEFAULTS: dict[str, dict] = {
    # PacGAN / VEEGAN 2D setting (measured in benchmarks/results/mode_coverage.md: the papers' own
    # toy nets barely learn grid25 in a CPU budget): G 4 x FC400 ReLU+BN, D 3 x FC200 maxout-5,
    # z ~ N(0, I_2), batch 100, Adam(1e-4, beta1 0.5) for D and G. The papers' settings stay
    # selectable: TOY_PAPER_NETS below.
    # Generator EMA half-life 2.5 kimg = 25 steps of 100 (benchmarks/results/ema_toy.md).
    "toy": {"data": {"batch_size": 100}, "net": {"arch": "toy_pacgan", "z_dim": 2},
            "optim": {"lr_d": 1e-4, "lr_g": 1e-4}, "ema": {"halflife_kimg": 2.5}},
    # TripletGAN appendix B.2: MLPs on 32x32 MNIST, batch 256, lr 5e-4. Image families: no generator
    # EMA by default (benchmarks/results/preset_choices.md#image-families-no-generator-ema-by-default).
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


def defaults_for(gan: str, dataset: str, arch: str | None = None) -> dict:
    """The nested default config of ``gan`` on ``dataset`` (family defaults, then GAN presets);
    with ``arch`` (the user's ``net.arch``; default: the defaults' own), the GAN's
    ``"<family>/<arch>"`` preset last: settings that belong to those nets on that family."""
    spec = get_gan(gan)
    family = DATA_FAMILIES.get(dataset) if isinstance(dataset, str) else None
    if family is None:
        raise ConfigError(f"data.name = {dataset!r}: accepted values are {', '.join(DATA_FAMILIES)}")
    cfg = deep_merge({"gan": gan, "data": {"name": dataset}}, FAMILY_DEFAULTS[family])
    cfg = _defaults_for_arch(deep_merge(cfg, spec.preset_for(family)), arch)
    arch = arch or cfg.get("net", {}).get("arch")
    return deep_merge(cfg, spec.nets_preset(family, arch)) if arch else cfg


def _defaults_for_arch(defaults: dict, arch: str | None) -> dict:
    """The defaults' ``net.kwargs`` are options of the defaults' ``net.arch``: a user who picks
    another arch starts from that arch's own options (e.g. MLGAN on MNIST with
    ``net.arch = "mlp_mnist"`` does not inherit the conv nets' ``width``)."""
    net = defaults.get("net", {})
    if arch is None or arch == net.get("arch") or "kwargs" not in net:
        return defaults
    return {**defaults, "net": {k: v for k, v in net.items() if k != "kwargs"}}


def resolve_config(user: dict) -> RunConfig:
    """Validate a user's nested config and fill in every default; see the module docstring."""
    if not isinstance(user, dict):
        raise ConfigError(f"config: expected a mapping, got {type(user).__name__}")
    unknown = sorted(set(user) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key; accepted keys are {', '.join(TOP_LEVEL_KEYS)}")
    if "gan" not in user:
        raise ConfigError("gan: missing; name one of the registered GANs")
    if user.get("gan_module") is not None:
        load_gan_module(user["gan_module"], "gan_module")
    spec = get_gan(user["gan"])
    dataset = user.get("data", {}).get("name", DataConfig.name) if isinstance(user.get("data", {}), dict) else None
    if dataset is None:
        raise ConfigError("data: expected a mapping")
    user_net = user.get("net")
    arch = user_net.get("arch") if isinstance(user_net, dict) else None
    merged = deep_merge(defaults_for(spec.name, dataset, arch if isinstance(arch, str) else None), user)

    sections = {}
    for name, cls in SECTIONS.items():
        section = merged.get(name, {})
        sections[name] = build_dataclass(cls, section, name)
        if hasattr(sections[name], "validate"):  # cross-field checks (ranges are on the fields)
            sections[name].validate()
    sections["data"] = dataclasses.replace(sections["data"], root=str(Path(sections["data"].root or default_data_root()).resolve()))
    sections["eval"] = dataclasses.replace(sections["eval"], cache_dir=str(Path(sections["eval"].cache_dir or default_cache_dir()).resolve()))
    hparams = spec.build_objective(merged.get("hparams", {}))
    top = {k: merged[k] for k in ("steps", "seed", "device", "gan_module") if k in merged}
    hints, fields = typing.get_type_hints(RunConfig), {f.name: f for f in dataclasses.fields(RunConfig)}
    for key, value in top.items():
        top[key] = check_field(key, value, fields[key], hints[key])
    cfg = RunConfig(gan=spec.name, hparams=hparams, **sections, **top)
    if not (cfg.device == "auto" or cfg.device == "cpu" or cfg.device.startswith("cuda")):
        raise ConfigError(f"device = {cfg.device!r}: accepted values are auto, cpu, cuda, cuda:<index>")
    _check_perf(cfg)
    return cfg


def _check_perf(cfg: RunConfig) -> None:
    """Combinations of ``perf`` options a run cannot honour: one-line errors."""
    if cfg.perf.channels_last and cfg.net.arch not in CONV_ARCHS:
        raise ConfigError(f"perf.channels_last = true: only for the conv nets (net.arch = "
                          f"{' | '.join(CONV_ARCHS)}); net.arch is {cfg.net.arch!r}")
    if cfg.perf.compile and cfg.hparams.double_backward:
        raise ConfigError(f"perf.compile = true: not with {cfg.gan} (its loss differentiates D's input "
                          "gradients, a double backward compiled graphs do not support)")
    if cfg.perf.compile and cfg.net.sn != "none":
        raise ConfigError(f"perf.compile = true: not with net.sn = {cfg.net.sn!r} (the power iteration updates D's "
                          "vectors in place between the forwards of one backward; compiled on CUDA this fails, "
                          "benchmarks/results/gpu.md)")


