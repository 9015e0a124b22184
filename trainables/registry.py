"""The one registry: a GAN's name -> its :class:`~trainables.gans.base.GanSpec`.

Each GAN lives in one module (``trainables/gans/<name>.py``) that exposes ``GAN = GanSpec(...)``:
its objective, variants, defaults per data family and search space. The built-in GANs are the
modules named in :data:`trainables.gans.BUILTIN` (one line each), registered at import; a GAN
kept in another package is registered with :func:`load_gan_module` (study files:
``gan_modules = ["my_pkg.my_gan"]``; ``python -m trainables.train --set gan_module=my_pkg.my_gan``).
"""

from __future__ import annotations

import importlib

from trainables.schema import ConfigError
from trainables.gans import BUILTIN
from trainables.gans.base import GanSpec

__all__ = ["GANS", "GanSpec", "PLUGIN_MODULES", "get_gan", "load_gan_module", "load_gan_modules", "metric_learning_gans",
           "register_gan"]

GANS: dict[str, GanSpec] = {}
PLUGIN_MODULES: dict[str, str] = {}  # GAN name -> its module, for GANs outside trainables.gans


def register_gan(spec: GanSpec) -> GanSpec:
    """Add a GAN; duplicates and wrong types are rejected."""
    if not isinstance(spec, GanSpec):
        raise TypeError(f"register_gan expects a GanSpec, got {type(spec).__name__}")
    if spec.name in GANS:
        raise ValueError(f"GAN {spec.name!r} is already registered")
    GANS[spec.name] = spec
    return spec


def load_gan_module(module: str, field: str = "gan_modules") -> GanSpec:
    """Import ``module`` and register its ``GAN``; a module already registered is a no-op.

    Errors are one-line :class:`ConfigError` naming ``field``: the module cannot be imported, it
    has no ``GAN = GanSpec(...)``, or its GAN's name is taken by another GAN.
    """
    if not isinstance(module, str) or not module:
        raise ConfigError(f"{field}: expected module names (strings), got {module!r}")
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # any import failure of user code is a config error
        raise ConfigError(f"{field}: cannot import {module!r} ({type(exc).__name__}: {exc})") from None
    spec = getattr(mod, "GAN", None)
    if not isinstance(spec, GanSpec):
        raise ConfigError(f"{field}: module {module!r} defines no GAN = GanSpec(...)")
    if GANS.get(spec.name) is spec:
        return spec
    if spec.name in GANS:
        raise ConfigError(f"{field}: {module!r} registers {spec.name!r}, a name already taken by another GAN")
    if not module.startswith("trainables.gans."):
        PLUGIN_MODULES[spec.name] = module
    return register_gan(spec)


def load_gan_modules(modules, field: str = "gan_modules") -> list[str]:
    """:func:`load_gan_module` for each name of ``modules``; returns the GANs' names."""
    if modules is None:
        return []
    if isinstance(modules, str) or not isinstance(modules, (list, tuple)):
        raise ConfigError(f"{field}: expected a list of module names, got {modules!r}")
    return [load_gan_module(m, field).name for m in modules]


def get_gan(name: str) -> GanSpec:
    """The spec of a registered GAN; an unknown name lists the valid ones."""
    try:
        return GANS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"gan = {name!r}: unknown GAN; registered GANs are {', '.join(GANS)}") from None


def metric_learning_gans() -> list[str]:
    return [name for name, spec in GANS.items() if spec.metric_learning]


for _module in BUILTIN:
    load_gan_module(f"trainables.gans.{_module}", "trainables.gans.BUILTIN")
