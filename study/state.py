"""The study directory's files: state file (parent run, GANs done, status), resolved study file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from study.study_file import StudyError, StudyFile, parse_study

STATE_FILE = "study_state.json"  # the study directory's state (parent run id, GANs done)
RESOLVED_FILE = "study.yaml"  # the resolved study file, beside the study and on the parent run
STATE_VERSION = 2  # bump when the state file's layout changes (2: one sweep of all GANs in sweep/)
READABLE_VERSIONS = (1, 2)  # 1: one sweep per GAN, one after another (browsable, not resumable)
SQLITE = "sqlite:///"
DB_FILE = "mlflow.db"  # the default tracking store: sqlite:///<study dir>/mlflow.db


# -- state file ----------------------------------------------------------------------------------
def read_state(study_dir: Path) -> dict:
    path = Path(study_dir) / STATE_FILE
    if not path.is_file():
        raise StudyError(f"{study_dir}: not a study directory (no {STATE_FILE})")
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StudyError(f"{path}: unreadable state file ({exc})") from None
    if state.get("version") not in READABLE_VERSIONS:
        raise StudyError(f"{path}: state version {state.get('version')!r}, expected one of "
                         f"{list(READABLE_VERSIONS)}")
    return state


def write_state(study_dir: Path, state: dict) -> None:
    """Atomic write (a killed driver never leaves half a state file)."""
    path = Path(study_dir) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, path)


def find_study_dir(name_or_dir: str, storage_path: str = "./studies") -> Path:
    """A study directory given itself or a study name (looked up in ``storage_path``)."""
    for candidate in (Path(name_or_dir), Path(storage_path) / name_or_dir):
        if (candidate / STATE_FILE).is_file():
            return candidate.resolve()
    raise StudyError(f"{name_or_dir}: no study there (no {STATE_FILE}) nor under {storage_path}/")


def load_study_dir(study_dir: Path) -> tuple[StudyFile, dict]:
    state = read_state(study_dir)
    check_location(study_dir, state)
    return parse_study(state["study"]), state


def recorded_dir(state: dict) -> Path | None:
    """The folder the study's default store (``sqlite:///<study dir>/mlflow.db``) was created in;
    None when the study set ``mlflow.tracking_uri`` (a server or its own database)."""
    uri = state.get("tracking_uri", "")
    if state.get("study", {}).get("mlflow", {}).get("tracking_uri") or not uri.startswith(SQLITE):
        return None
    return Path(uri[len(SQLITE):]).parent


def check_location(study_dir: Path, state: dict) -> None:
    """StudyError (one line, with the command that fixes it) when ``study_dir`` was moved or
    copied away from where its default store was created (its commands would use the old one)."""
    old = recorded_dir(state)
    if old is not None and old != Path(study_dir).resolve():
        raise StudyError(f"{study_dir}: this study was created in {old}; after moving or copying it, run "
                         f"`study relocate {study_dir}`")


# -- preparation (no Ray) ------------------------------------------------------------------------
def dump_resolved(study: StudyFile, path: Path) -> Path:
    path.write_text("# resolved study file (every default filled in, absolute paths)\n"
                    + yaml.safe_dump(study.to_dict(), sort_keys=False))
    return path
