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
from dataclasses import dataclass
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


def apply_point(base: dict, point: dict) -> dict:
    """``deep_merge(base, unflatten(point))``: a flat point (dotted keys, as a search space
    returns it) over a nested base config."""
    return deep_merge(base, unflatten(point))


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


@dataclass(frozen=True)
class Bound:
    """A numeric range declared on a dataclass field (``field(default=1, metadata=bound(ge=1))``),
    enforced by :func:`build_dataclass` / :func:`check_field` on every value a user gives."""

    ge: float | None = None  # value >= ge
    gt: float | None = None  # value > gt
    le: float | None = None  # value <= le
    lt: float | None = None  # value < lt

    def text(self) -> str:
        low = (f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else None)
        high = (f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else None)
        if low and high:
            return f"must be in {low}, {high}"
        if low:
            return f"must be {'>=' if self.ge is not None else '>'} {low[1:]}"
        return f"must be {'<=' if self.le is not None else '<'} {high[:-1]}"

    def check(self, name: str, value) -> None:
        ok = ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
              and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))
        if not ok:
            raise ConfigError(f"{name} = {value!r}: {self.text()}")


def bound(**limits) -> dict:
    """Field metadata declaring a :class:`Bound` (``ge``, ``gt``, ``le``, ``lt``)."""
    return {"bound": Bound(**limits)}


def check_field(name: str, value, f: dataclasses.Field, hint):
    """``value`` checked against the field's type (:func:`check_type`) and declared bound."""
    value = check_type(name, value, hint)
    limits = f.metadata.get("bound")
    if limits is not None and value is not None:
        limits.check(name, value)
    return value


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
        kwargs[key] = check_field(f"{prefix}.{key}", value, fields[key], hints[key])
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
