"""The study file: one TOML, YAML or JSON document describing a whole sweep, validated up front.

Everything is checked before Ray starts: unknown keys and wrong types are :class:`StudyError`
naming the dotted field (``scheduler.grace_period``, ``run.optim.lr_x``), and every GAN's base run
config and its first point (the paper defaults, or every grid point) are resolved with the
training loop's own validation (:mod:`study.study_checks`). Relative paths (``storage_path``,
``run.data.root``, ``run.eval.cache_dir`` / ``weights_path``) are relative to the current working
directory and stored absolute (trials run in temporary directories). The sections, their keys and
the layout: :mod:`study.study_schema`; every key: docs/study-file.md.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from pathlib import Path

import yaml

from study.study_checks import validate_study
from study.study_schema import (METRIC_LEARNING, RUN_SECTIONS, MlflowSection, ResourcesSection, RunSection,
                                SchedulerSection, SearchSection, StudyError, StudyFile, _as_written, is_uri,
                                legacy_layout)
from study.study_smoke import SMOKE, smoke_overrides
from trainables.config import build_dataclass
from trainables.schema import ConfigError
from trainables.registry import GANS, load_gan_modules, metric_learning_gans
from trainables.schema import check_field

__all__ = ["METRIC_LEARNING", "RUN_SECTIONS", "SMOKE", "MlflowSection", "ResourcesSection", "RunSection",
           "SchedulerSection", "SearchSection", "StudyError", "StudyFile", "is_uri", "legacy_layout", "load_study",
           "parse_study", "read_document", "smoke_overrides", "validate_study"]


# -- parsing -----------------------------------------------------------------------------------
STUDY_FIELDS = {f.name: f for f in dataclasses.fields(StudyFile)}
SECTION_TYPES = {"run": RunSection, "search": SearchSection, "scheduler": SchedulerSection,
                 "resources": ResourcesSection, "mlflow": MlflowSection}
READERS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def read_document(path: str | Path) -> dict:
    """Parse a TOML / YAML / JSON file into a dict (by extension); one-line StudyError on failure."""
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise StudyError(f"{path}: unknown study file type; use one of {', '.join(READERS)}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise StudyError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                         f"{exc.start}); save the study file as UTF-8") from None
    try:
        data = _PARSERS[kind](text)
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StudyError(f"{path}: invalid {kind.upper()} ({first})") from None
    if not isinstance(data, dict):
        raise StudyError(f"{path}: expected a mapping at the top level")
    return data


def _toml(text: str) -> dict:
    return tomllib.loads(text)


def _yaml(text: str) -> dict:
    return yaml.safe_load(text) or {}


def _json(text: str) -> dict:
    return json.loads(text)


_PARSERS = {"toml": _toml, "yaml": _yaml, "json": _json}


def load_study(path: str | Path, *, smoke_test: bool = False) -> StudyFile:
    """Read, validate and resolve a study file (see :func:`parse_study`)."""
    return parse_study(read_document(path), smoke_test=smoke_test)


def parse_study(doc: dict, *, smoke_test: bool = False) -> StudyFile:
    """Validate a study document into a :class:`StudyFile` with absolute paths.

    ``smoke_test`` shrinks the budget (:func:`smoke_overrides`) before validation. Raises
    :class:`StudyError` (one line, dotted field name as written) on any problem.
    """
    if not isinstance(doc, dict):
        raise StudyError(f"study: expected a mapping, got {type(doc).__name__}")
    doc, renamed = legacy_layout(doc)
    try:
        return _parse(smoke_overrides(doc) if smoke_test else doc)
    except StudyError as exc:
        raise StudyError(_as_written(str(exc), renamed)) from None


def _parse(doc: dict) -> StudyFile:
    unknown = sorted(set(doc) - set(STUDY_FIELDS))
    if unknown:
        raise StudyError(f"{unknown[0]}: unknown key; accepted keys are {', '.join(STUDY_FIELDS)}")
    if "name" not in doc:
        raise StudyError("name: missing; give the study a name")
    try:
        modules = doc.get("gan_modules", [])
        load_gan_modules(modules)  # first: `gans` may name the GANs they define
        values = {"gan_modules": tuple(modules)}
        for key, value in doc.items():
            if key in SECTION_TYPES:
                values[key] = build_dataclass(SECTION_TYPES[key], value, key)
            elif key == "gan_modules":
                continue
            elif key == "gans":
                values[key] = _parse_gans(value)
            else:
                values[key] = check_field(key, value, STUDY_FIELDS[key], typing.get_type_hints(StudyFile)[key])
    except ConfigError as exc:
        raise StudyError(str(exc)) from None
    values.setdefault("gans", _parse_gans([METRIC_LEARNING]))
    study = StudyFile(**values)
    study = _absolute_paths(study)
    validate_study(study)
    return study


def _parse_gans(value) -> tuple:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise StudyError(f"gans = {value!r}: expected a non-empty list of GAN names")
    out: list[str] = []
    for i, name in enumerate(value):
        if name == METRIC_LEARNING:
            names = metric_learning_gans()
        elif isinstance(name, str) and name in GANS:
            names = [name]
        else:
            raise StudyError(f"gans[{i}] = {name!r}: unknown GAN; accepted values are "
                             f"{METRIC_LEARNING}, {', '.join(GANS)}")
        out.extend(n for n in names if n not in out)
    return tuple(out)


def _abs(path: str | None) -> str | None:
    if path is None or is_uri(path):
        return path
    return str(Path(path).expanduser().resolve())


def _absolute_paths(study: StudyFile) -> StudyFile:
    data, ev = dict(study.run.data), dict(study.run.eval)
    if isinstance(data.get("root"), str):
        data["root"] = _abs(data["root"])
    for key in ("cache_dir", "weights_path"):
        if isinstance(ev.get(key), str):
            ev[key] = _abs(ev[key])
    run = dataclasses.replace(study.run, data=data, eval=ev)
    return dataclasses.replace(study, run=run, storage_path=_abs(study.storage_path),
                               local_path=_abs(study.local_path))
