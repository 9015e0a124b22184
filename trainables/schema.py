"""Schema primitives shared by run configs, GAN objectives and study files: the one-line
:class:`ConfigError`, nested/flat dict helpers, and the dataclass validator (unknown keys and
wrong types are errors; numbers must be finite).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """A one-line error naming the offending field and what it accepts."""


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

    Ints are accepted where floats are expected (and converted); bools are never numbers; NaN
    and infinities are never accepted. ``annotation`` is a real type (dataclass hints are read
    with ``typing.get_type_hints``), never a string.
    """
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
        if not math.isfinite(value):
            raise ConfigError(f"{name} = {value!r}: must be a finite number")
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


def choice(name: str, value, accepted: tuple) -> None:
    if value not in accepted:
        raise ConfigError(f"{name} = {value!r}: accepted values are {', '.join(map(str, accepted))}")


def at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"{name} = {value!r}: must be >= {minimum}")
