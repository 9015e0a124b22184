"""Shared pieces of the fuzz tests (seed, example counts) and their Hypothesis strategies: study documents (random, and valid ones with one field
mutated), their TOML / YAML serialisations, random bytes, and ``--set key=value`` options."""

from __future__ import annotations

import json
import math
import os

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SEED = int(os.environ["FUZZ_SEED"])  # set (and printed) by tests/conftest.py
SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))  # multiplies every example count


def examples(n: int) -> settings:
    """``n`` examples (times FUZZ_EXAMPLES), no deadline, the reproduction blob printed on failure."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# A valid study document touching every section (the storage path is set per example).
BASE = {
    "name": "fz", "gans": ["tripletgan", "mmd_rep"], "max_concurrent": 2, "max_failures": 1,
    "run": {"steps": 200, "seed": 0, "device": "cpu",
            "data": {"name": "grid25", "batch_size": 100},
            "eval": {"every": 50, "num_samples": 500},
            "optim": {"lr_d": 1e-4, "lr_g": 2e-4, "beta1_d": 0.5, "n_critic": 1},
            "hparams": {"tripletgan": {"margin": 1.0}}},
    "search": {"samples_per_gan": 4, "sampler": "tpe", "seed": 0, "metric": "eval/fit"},
    "scheduler": {"type": "asha", "grace_period": 50, "reduction_factor": 3},
    "resources": {"cpu": 1.0, "gpu": 0.0},
    "mlflow": {"loss_every": 10, "register_model": True},
}


def leaf_paths(doc: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in doc.items():
        path = prefix + (key,)
        out += leaf_paths(value, path) if isinstance(value, dict) else [path]
    return out


def section_paths(doc: dict, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    for key, value in doc.items():
        if isinstance(value, dict):
            out += section_paths(value, prefix + (key,))
    return out


LEAVES = leaf_paths(BASE)
SECTIONS = section_paths(BASE)

BAD_VALUES = st.one_of(
    st.text(max_size=12), st.lists(st.integers(-3, 3), max_size=3), st.booleans(),
    st.dictionaries(st.sampled_from(["x", "lr_d", "name"]), st.integers(), max_size=2),
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, -1e-9, 1e308, 10**30, "", "x" * 5000]),
    st.integers(-10**6, -1), st.floats(-1e6, -1e-12), st.floats(allow_nan=True, allow_infinity=True),
)


def _set(doc: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _get(doc: dict, path: tuple):
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw):
    """``(document, mutated path, how)``: BASE with one field given a wrong value, an unknown key
    added, a value nested one level too deep, or a section replaced by a scalar."""
    doc = json.loads(json.dumps(BASE))
    how = draw(st.sampled_from(["value", "value", "value", "unknown", "nest", "flatten"]))
    if how == "value":
        path = draw(st.sampled_from(LEAVES))
        _set(doc, path, draw(BAD_VALUES))
    elif how == "unknown":
        section = draw(st.sampled_from([s for s in SECTIONS if s[-1:] != ("tripletgan",)]))
        key = draw(st.sampled_from(["lr", "max_step", "typo_key", "ganz", "Steps"]))
        path = section + (key,)
        _set(doc, path, draw(st.integers(0, 5)))
    elif how == "nest":
        path = draw(st.sampled_from(LEAVES))
        _set(doc, path, {"value": _get(doc, path)})
    else:
        path = draw(st.sampled_from([s for s in SECTIONS if s]))
        _set(doc, path, draw(st.sampled_from([1, "x", [1, 2], True])))
    return doc, path, how


KEYS = st.sampled_from(["name", "gans", "run", "search", "scheduler", "data", "steps", "every",
                        "lr_d", "type", "x", "", "mlflow", "resources", "hparams"]) | st.text(max_size=6)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=15))
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12)
RANDOM_STUDIES = st.dictionaries(KEYS, DOCUMENTS, max_size=5).map(lambda d: {"name": "fz", **d}) | DOCUMENTS


# -- serialisation -------------------------------------------------------------------------------
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # beyond int64 a TOML reader refuses the file: also a case to handle
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    return '"null"'


def to_toml(doc: dict, prefix: tuple = ()) -> str:
    """A TOML writer (no library here): scalars first, then one [table] per nested mapping."""
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict) and v is not None]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append("\n[" + ".".join(json.dumps(p) for p in prefix + (k,)) + "]")
            lines.append(to_toml(v, prefix + (k,)))
    return "\n".join(lines)


def serialise(doc, fmt: str) -> bytes:
    if fmt == "yaml" or not isinstance(doc, dict):
        return yaml.safe_dump(doc, sort_keys=False).encode()
    return to_toml(doc).encode()


# -- --set options ---------------------------------------------------------------------------------
SET_KEYS = st.sampled_from([
    "steps", "seed", "device", "data.name", "data.batch_size", "data.mixture", "eval.every",
    "eval.num_samples", "optim.lr_d", "optim.beta1_g", "optim.n_critic", "net.arch", "hparams.margin",
    "hparams.variant", "gan_module", "gan", "optim", "", ".", "optim..lr_d", "optim.lr_d.x", "unknown",
]) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz._", max_size=12)
SET_VALUES = st.one_of(
    SCALARS.map(lambda v: json.dumps(v, allow_nan=True)),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0", "[1,", "{}", "null", "tripletgan",
                     '{"kind": "ring", "count": 0}', '{"kind": "grid", "std": -1}']),
    st.text(max_size=10),
)
