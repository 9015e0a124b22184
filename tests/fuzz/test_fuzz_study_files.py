"""Property-based fuzzing of `study run FILE` (issue 14): random documents, random bytes and valid
study files with one field mutated, in TOML and YAML.

Property: either the file is accepted (`--dry-run` exits 0) and its resolved study validates
again, unchanged, after a round trip through its dumped form (`study.yaml`), or `study run`
exits 2 with exactly one line `study: error: ...` that names the offending field (or the file),
no traceback, and nothing created: no study directory, no MLflow DB, no Ray start (`ray.init` is
replaced by a tripwire). Runs in-process through `study.cli.main`; the seed is in the pytest
header (FUZZ_SEED), FUZZ_EXAMPLES scales the example counts.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from _documents import BASE, RANDOM_STUDIES, SEED, examples, mutated, serialise
from hypothesis import given, seed
from hypothesis import strategies as st




@pytest.fixture(autouse=True)
def _ray_tripwire(monkeypatch):
    import ray

    def refuse(*args, **kwargs):
        raise AssertionError("bad input reached ray.init")

    monkeypatch.setattr(ray, "init", refuse)


def _cli(*argv) -> tuple[int, str, str]:
    from study.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def _with_storage(doc, root: Path):
    if isinstance(doc, dict):
        doc = {**doc, "storage_path": str(root / "studies")}
    return doc


def check_study_file(content: bytes, suffix: str, field: str | None = None) -> str:
    """The property for one file; returns "accepted" or "rejected"."""
    from study.study_file import load_study, parse_study

    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # ./studies lands in tmp
        root = Path(tmp)
        path = root / f"study{suffix}"
        path.write_bytes(content)
        rc, out, err = _cli("run", str(path), "--dry-run")
        if rc == 0:
            study = load_study(path)
            again = parse_study(yaml.safe_load(yaml.safe_dump(study.to_dict(), sort_keys=False)))
            assert again.to_dict() == study.to_dict()
            assert sorted(p.name for p in root.iterdir()) == [path.name]  # a dry run creates nothing
            return "accepted"
        assert rc == 2, (rc, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("study: error: "), err
        assert "Traceback" not in err and out == ""
        if field is not None:
            assert field in lines[0] or path.name in lines[0], (field, lines[0])
        rc2, _, err2 = _cli("run", str(path))  # the real command: same answer, nothing created
        assert (rc2, err2) == (rc, err)
        assert sorted(p.name for p in root.iterdir()) == [path.name]
        return "rejected"


@examples(250)
@seed(SEED)
@given(case=mutated(), fmt=st.sampled_from(["toml", "yaml"]))
def test_one_mutated_field_is_named_or_accepted(case, fmt):
    doc, path, how = case
    with tempfile.TemporaryDirectory() as tmp:
        doc = _with_storage(doc, Path(tmp))
    check_study_file(serialise(doc, fmt), ".toml" if fmt == "toml" else ".yaml", field=path[-1] if how != "flatten" else None)


@examples(150)
@seed(SEED)
@given(doc=RANDOM_STUDIES, fmt=st.sampled_from(["toml", "yaml"]))
def test_random_documents_never_reach_a_traceback(doc, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        doc = _with_storage(doc, Path(tmp))
    check_study_file(serialise(doc, fmt), ".toml" if fmt == "toml" else ".yaml")


@examples(150)
@seed(SEED)
@given(data=st.binary(max_size=300) | st.binary(max_size=60).map(lambda b: b"\xff\xfe\x00" + b),
       suffix=st.sampled_from([".toml", ".yaml", ".yml"]))
def test_random_bytes_are_one_line_errors(data, suffix):
    check_study_file(data, suffix)


def test_the_base_document_is_valid_in_both_formats(tmp_path):
    """The mutations start from a valid file (else every mutation would be rejected anyway)."""
    doc = _with_storage(json.loads(json.dumps(BASE)), tmp_path)
    assert check_study_file(serialise(doc, "toml"), ".toml") == "accepted"
    assert check_study_file(serialise(doc, "yaml"), ".yaml") == "accepted"


@pytest.mark.parametrize(("content", "suffix", "field"), [
    (b"\xff\xfe\x00name = 'x'", ".toml", "study.toml"),  # not UTF-8 text (issue 14)
    (b'name = "x"\n[run.optim]\nlr_d = inf\n', ".toml", "lr_d"),  # inf accepted before issue 14
    (b'name = "x"\n[run.optim]\nlr_d = nan\n', ".toml", "lr_d"),
])
def test_regressions_of_issue_14(content, suffix, field):
    assert check_study_file(content, suffix, field) == "rejected"
