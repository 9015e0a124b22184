"""The study-file reference (docs/study-file.md), generated from the schema so it cannot drift.

Every key of a study file is a field of a dataclass: the sections of :mod:`study.study_schema`
(``StudyFile``, ``RunSection``, ``SearchSection``, ...) and, under ``[run]``, the run config's own
sections in :mod:`trainables.config` (``DataConfig``, ``NetConfig``, ``OptimConfig``,
``EvalConfig``, ``EmaConfig``, ``PerfConfig``) and each GAN's objective (``[run.hparams.<gan>]``).
This module reads each field's type and default from the dataclass, its bounds from the field
metadata (``bound(...)``), its accepted values from ``Literal`` types and the ``choice(...)``
calls of the class's ``validate`` method, and its description from the ``# comment`` after the
field (or the comment lines just above it) in the source.

    python -m study.reference > docs/study-file.md      # regenerate
    python -m study.reference --check                   # exit 1 when docs/study-file.md differs

Nothing imports this module except its test (tests/test_docs.py).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import sys
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any

from search_spaces import grids
from study import study_file as sf
from study import study_schema as schema
from trainables import config as rc
from trainables.evaluation import IMAGE_KEYS, TOY_KEYS
from trainables.gans import BUILTIN
from trainables.registry import get_gan
from trainables.schema import flatten

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "study-file.md"

# Values accepted by a key that are checked outside its dataclass (by study.study_checks'
# validation): read from the same tables that validation reads.
EXTRA_CHOICES = {
    "gans": lambda: [sf.METRIC_LEARNING, *BUILTIN],
    "search.grid": lambda: [*grids.GRIDS, "{dotted key = [values]}"],
    "search.metric": lambda: sorted({*TOY_KEYS.values(), *IMAGE_KEYS.values()}),
    "search.metrics": lambda: ["a list of >= 2 of the search.metric values"],
    "name": lambda: [f"matches {schema.NAME_PATTERN.pattern}"],
}
# Descriptions of keys whose field has no comment.
EXTRA_DESCRIPTIONS = {
    "name": "the study's name: its folder <storage_path>/<name>/, MLflow experiment and registered model",
    "gans": f"registered GAN names (`study gans`); {sf.METRIC_LEARNING} = every metric-learning GAN",
}
# Defaults filled in by the parser rather than the dataclass.
EXTRA_DEFAULTS = {"gans": f'["{sf.METRIC_LEARNING}"]'}
REQUIRED = {"name"}
# [run] keys documented as their own sections (the run config's dataclasses).
RUN_SUBSECTIONS = {"data": rc.DataConfig, "net": rc.NetConfig, "optim": rc.OptimConfig,
                   "eval": rc.EvalConfig, "ema": rc.EmaConfig, "perf": rc.PerfConfig}


# -- reading the source ------------------------------------------------------------------------
def _comments(source: str) -> dict[int, str]:
    """Line number -> the text of the ``#`` comment on that line."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _class_node(cls) -> tuple[ast.ClassDef, dict[int, str], list[str]]:
    source = inspect.getsource(sys.modules[cls.__module__])
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    return node, _comments(source), source.splitlines()


def field_comments(cls) -> dict[str, str]:
    """Field name -> its description: the comment after it, else the comment lines above it
    (base classes first, so a subclass's own comment wins)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        node, comments, lines = _class_node(klass)
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            trailing = [comments[i] for i in range(stmt.lineno, stmt.end_lineno + 1) if i in comments]
            above, i = [], stmt.lineno - 1
            while i >= 1 and lines[i - 1].strip().startswith("#"):
                above.insert(0, comments[i])
                i -= 1
            text = " ".join(trailing) or " ".join(above)
            if text:
                out[stmt.target.id] = text
    return out


def validate_choices(cls) -> dict[str, list]:
    """Field name -> accepted values, from ``choice(name, self.<field>, accepted)`` calls in the
    class's ``validate`` method (``accepted`` evaluated in the class's module)."""
    node, _, _ = _class_node(cls)
    namespace = vars(sys.modules[cls.__module__])
    out = {}
    for fn in node.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name == "validate"):
            continue
        for call in ast.walk(fn):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "choice"
                    and len(call.args) == 3 and isinstance(call.args[1], ast.Attribute)):
                accepted = eval(compile(ast.Expression(call.args[2]), "<choice>", "eval"), namespace)
                out[call.args[1].attr] = list(accepted)
    return out


# -- formatting --------------------------------------------------------------------------------
def type_name(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "unset"
    if origin is typing.Literal:
        return "string"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    names = {int: "integer", float: "number", str: "string", bool: "boolean", dict: "table",
             tuple: "list", Any: "any"}
    return names.get(hint, names.get(origin, getattr(hint, "__name__", str(hint))))


def toml_value(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return repr(value) if value == 0 or 1e-3 <= abs(value) < 1e6 else f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _default(f: dataclasses.Field, key: str) -> str:
    if key in EXTRA_DEFAULTS:
        return EXTRA_DEFAULTS[key]
    if key in REQUIRED or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
        return "required"
    value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return toml_value(value)


def _accepted(f: dataclasses.Field, hint, choices: list | None) -> str:
    parts = []
    limits = f.metadata.get("bound")
    if limits is not None:
        parts.append(limits.text().removeprefix("must be "))
    if typing.get_origin(hint) is typing.Literal:
        choices = list(typing.get_args(hint))
    if choices:
        parts.append(", ".join(f"`{c}`" for c in choices))
    return "; ".join(parts)


def _cell(text: str) -> str:
    """A table cell: pipes escaped, and ``<`` outside code spans (``<name>`` is no HTML tag)."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    return "`".join(p.replace("<", "&lt;") if i % 2 == 0 else p for i, p in enumerate(parts))


def field_rows(cls, prefix: str = "", skip=(), choices: dict | None = None) -> list[str]:
    """One Markdown table row per field of ``cls``: key, type, default, accepted, description."""
    hints, comments = typing.get_type_hints(cls), field_comments(cls)
    found = {**validate_choices(cls), **(choices or {})}
    rows = ["| key | type | default | accepted | description |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        key = prefix + f.name
        extra = EXTRA_CHOICES.get(key)
        accepted = _accepted(f, hints[f.name], extra() if extra else found.get(f.name))
        default = _default(f, key)
        default = {"required": "**required**", "unset": "unset"}.get(default, f"`{default}`")
        description = comments.get(f.name) or EXTRA_DESCRIPTIONS.get(key, "")
        rows.append("| " + " | ".join(_cell(c) for c in (
            f"`{f.name}`", type_name(hints[f.name]), default, accepted, description)) + " |")
    return rows


def _doc(cls) -> list[str]:
    """The first paragraph of the class docstring (dataclasses without one get a generated one)."""
    text = cls.__doc__ or ""
    if text.startswith(cls.__name__ + "("):
        return []
    return [" ".join(textwrap.dedent(text).strip().split("\n\n")[0].split()), ""]


# -- the page ----------------------------------------------------------------------------------
HEADER = """# Study-file reference

<!-- Generated by `python -m study.reference` from the schema (study/study_schema.py,
trainables/config.py, trainables/gans/); do not edit by hand. tests/test_docs.py checks it. -->

A study file is TOML or YAML (JSON also reads). Every section and key is optional except `name`;
unknown keys, wrong types, out-of-range values and NaN/Inf are one-line errors naming the field
(exit status 2, before Ray starts). Validate a file with `study run --dry-run FILE`. How the keys
work together: [studies.md](studies.md).
"""


def _top_level() -> list[str]:
    sections = set(sf.SECTION_TYPES)
    return ["## Top-level keys", "", *field_rows(sf.StudyFile, skip=sections), ""]


def _run_sections() -> list[str]:
    out = ["## `[run]`", "", *_doc(sf.RunSection),
           "The keys `python -m trainables.train --set` takes, under the same names. Keys left out "
           "take the data family's defaults (below), then the GAN's own presets (`study gans`).", "",
           *field_rows(sf.RunSection, "run.", skip=(*RUN_SUBSECTIONS, "hparams")), ""]
    for name, cls in RUN_SUBSECTIONS.items():
        out += [f"### `[run.{name}]`", "", *_doc(cls), *field_rows(cls, f"run.{name}."), ""]
    return out


def _hparams() -> list[str]:
    out = ["### `[run.hparams.<gan>]`", "",
           "One table per GAN of the study, its objective's hyperparameters (defaults before the GAN's "
           "per-family presets; ranges are checked by the GAN's module, see [gans.md](gans.md)).", ""]
    for name in BUILTIN:
        spec = get_gan(name)
        variants = f" Variants: {', '.join(f'`{v}`' for v in spec.variants)}." if spec.variants else ""
        out += [f"#### `{name}`", "", f"{spec.description}.{variants}", "",
                *field_rows(spec.objective, choices={"variant": list(spec.variants)}), ""]
    return out


def _other_sections() -> list[str]:
    out = []
    for key, cls in sf.SECTION_TYPES.items():
        if key == "run":
            continue
        out += [f"## `[{key}]`", "", *_doc(cls), *field_rows(cls, f"{key}."), ""]
    return out


def _family_defaults() -> list[str]:
    out = ["## Data-family defaults", "",
           "`run.data.name` picks a family; its defaults apply below every GAN's presets.", "",
           "| family | datasets | defaults |", "|---|---|---|"]
    for family, defaults in rc.FAMILY_DEFAULTS.items():
        datasets = ", ".join(f"`{d}`" for d, f in rc.DATA_FAMILIES.items() if f == family)
        values = ", ".join(f"`{k} = {toml_value(v)}`" for k, v in flatten(defaults).items())
        out.append(f"| `{family}` | {datasets} | {_cell(values)} |")
    out += ["", "## Older names", "", "Files written before `[run]` held the whole run config still "
            "read; errors name the key as written.", "", "| old key | read as |", "|---|---|"]
    out += [f"| `{old}` | `{new}` |" for old, new in schema.LEGACY_KEYS.items()]
    return out + [""]


def render() -> str:
    lines = [HEADER, *_top_level(), *_run_sections(), *_hparams(), *_other_sections(), *_family_defaults()]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", nargs="?", const=str(DOC_PATH), metavar="FILE",
                        help=f"exit 1 when FILE (default {DOC_PATH.relative_to(DOC_PATH.parents[1])}) "
                             "differs from the generated reference")
    args = parser.parse_args(argv)
    text = render()
    if args.check is None:
        sys.stdout.write(text)
        return 0
    path = Path(args.check)
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current != text:
        print(f"{path}: out of date; regenerate with `python -m study.reference > {path}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
