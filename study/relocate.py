"""``study relocate DIR``: make a moved (or copied) study directory whole again.

The default tracking store is ``sqlite:///<study dir>/mlflow.db`` with artifacts in
``<study dir>/mlruns``, and MLflow records absolute artifact locations in the database
(experiments, runs, registered model versions, logged models). After the folder moves, those
locations name the old place. This rewrites, in the moved copy only: the artifact locations in
``mlflow.db`` (the old folder's prefix replaced by the new one), the state file's tracking URI and
storage path, and the resolved ``study.yaml``. Tune's sweep folder and ``optuna.db`` hold no
absolute paths the platform depends on (``study resume`` restores the sweep from the folder it is
given). A study tracked on an MLflow server keeps its artifacts there: nothing to rewrite in MLflow.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from study.state import DB_FILE, RESOLVED_FILE, SQLITE, dump_resolved, read_state, recorded_dir, write_state
from study.study_file import StudyError, parse_study

# (table, column) of MLflow's SQL schema that hold artifact locations (absent ones are skipped).
LOCATION_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("model_versions", "source"), ("model_versions", "storage_location"),
                    ("logged_models", "artifact_location"))


def _rewrite_locations(db: Path, old: Path, new: Path) -> int:
    """Replace the ``old`` folder prefix by ``new`` in every artifact location; returns the count."""
    changed = 0
    with sqlite3.connect(db) as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, column in LOCATION_COLUMNS:
            if table not in tables or column not in {r[1] for r in con.execute(f"PRAGMA table_info({table})")}:
                continue
            for prefix in (f"file://{old}/", f"{old}/"):
                target = f"file://{new}/" if prefix.startswith("file://") else f"{new}/"
                cur = con.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) WHERE substr({column}, 1, ?) = ?",
                    (target, len(prefix) + 1, len(prefix), prefix))
                changed += cur.rowcount
    return changed


def relocate(study_dir: str | Path) -> str:
    """Rewrite the moved study at ``study_dir``; returns a one-line summary."""
    study_dir = Path(study_dir).resolve()
    state = read_state(study_dir)
    study = parse_study(state["study"])
    if study_dir.name != study.name:
        raise StudyError(f"{study_dir}: the folder must keep the study's name {study.name!r} "
                         f"(rename it to {study_dir.parent / study.name})")
    old = recorded_dir(state)
    if study.remote_storage:
        raise StudyError(f"{study_dir}: storage_path = {study.storage_path!r} is a URI; its trials "
                         f"live there, only a local study folder can be relocated")
    if old == study_dir and Path(study.storage_path) == study_dir.parent:
        return f"{study_dir}: already in place, nothing to rewrite"
    changed = 0
    if old is not None:
        if not (study_dir / DB_FILE).is_file():
            raise StudyError(f"{study_dir}: no {DB_FILE} beside the state file")
        changed = _rewrite_locations(study_dir / DB_FILE, old, study_dir)
        state["tracking_uri"] = f"{SQLITE}{study_dir / DB_FILE}"
    moved = dataclasses.replace(study, storage_path=str(study_dir.parent))
    state["study"] = moved.to_dict()
    write_state(study_dir, state)
    dump_resolved(moved, study_dir / RESOLVED_FILE)
    return (f"{study_dir}: relocated from {old or study.study_dir}: {changed} artifact locations rewritten; "
            f"browse it with mlflow ui --backend-store-uri {state['tracking_uri']}")
