"""The documentation holds together: relative links and anchors resolve, the study-file reference
is the generator's output, the study files shown in the docs validate, every shipped study file
dry-runs, and the README keeps CI's test command and stays short.

Run: python -m pytest -q tests/test_docs.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from study import reference
from study.study_file import parse_study, read_document

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_FILES = sorted([README, ROOT / "CHANGELOG.md", ROOT / "deploy" / "README.md",
                    *(ROOT / "docs").glob("*.md"), *(ROOT / "benchmarks" / "results").glob("*.md")])
QUICKSTART = ROOT / "study" / "quickstart.toml"
STUDY_FILES = sorted([QUICKSTART, *(ROOT / "study" / "examples").iterdir()])
MAX_README_LINES = 150
TEST_COMMAND = ("python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e '.[test]' "
                "&& .venv/bin/python -m pytest -q -n 2 --dist loadfile")
MAIN_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e . && .venv/bin/study run"


def _rel(path: Path) -> str:
    """``path`` relative to the repository (its name when it lies elsewhere)."""
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


# -- Markdown reading --------------------------------------------------------------------------
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")


def blocks_and_text(text: str) -> tuple[list[tuple[str, str, int]], list[tuple[int, str]]]:
    """Fenced code blocks as (language, body, line of the fence) and the other lines as
    (line number, text)."""
    blocks, prose, fence, lang, body, start = [], [], None, "", [], 0
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence, lang, body, start = match.group(1), match.group(2).lower(), [], number
        elif fence is not None and line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
            blocks.append((lang, "\n".join(body) + "\n", start))
            fence = None
        elif fence is not None:
            body.append(line)
        else:
            prose.append((number, line))
    return blocks, prose


INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(text: str) -> list[tuple[int, str]]:
    """(line, target) of every inline link and image outside code blocks and code spans."""
    _, prose = blocks_and_text(text)
    return [(number, m.group(1)) for number, line in prose
            for m in LINK.finditer(INLINE_CODE.sub("", line))]


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading: markup dropped, lower case, punctuation removed except
    '-' and '_', spaces to '-'."""
    parts = heading.split("`")  # raw HTML tags vanish, but not inside code spans
    text = "".join(p if i % 2 else re.sub(r"<[^>]+>", "", p) for i, p in enumerate(parts))
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text).strip().lower()  # links keep their text
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (duplicates numbered -1, -2, as GitHub does)."""
    _, prose = blocks_and_text(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_slug(match.group(1))
        out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, target in links(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        where = f"{_rel(path)}:{number}: {target}"
        if not resolved.exists():
            problems.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: no heading with anchor #{anchor} in {_rel(resolved)}")
    return problems


# -- (a) links ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", DOC_FILES, ids=_rel)
def test_relative_links_and_anchors_resolve(path):
    assert broken_links(path) == []


def test_docs_link_into_each_other():
    """The checker sees the links (a page without any would pass vacuously)."""
    targets = {t for p in DOC_FILES for _, t in links(p.read_text(encoding="utf-8"))}
    assert "docs/study-file.md" in targets and "screenshots/runs_table.png" in targets
    assert any("#" in t for t in targets)


def test_link_checker_reports_missing_files_and_anchors(tmp_path):
    (tmp_path / "b.md").write_text("# A `[run.hparams.<gan>]` heading\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#a-runhparamsgan-heading) [ok](b.md#twice-1) [web](https://x.org/y)\n"
                    "`[not a link](nowhere.md)`\n```\n[in a block](nowhere.md)\n```\n"
                    "[gone](missing.md) ![gone](img/none.png) [bad](b.md#nope) [self](#nope)\n")
    problems = [p.split("a.md:", 1)[1] for p in broken_links(page)]
    assert problems == ["6: missing.md: no such file", "6: img/none.png: no such file",
                        "6: b.md#nope: no heading with anchor #nope in b.md",
                        "6: #nope: no heading with anchor #nope in a.md"]


def test_github_slugs():
    assert github_slug("(f) What was verified here, and what only on paper") == \
        "f-what-was-verified-here-and-what-only-on-paper"
    assert github_slug("`[run.perf]`") == "runperf"
    assert github_slug("Speed options (`[run.perf]`), data on the device") == \
        "speed-options-runperf-data-on-the-device"
    assert github_slug("One run without Ray") == "one-run-without-ray"


# -- (b) the generated reference ---------------------------------------------------------------
def test_study_file_reference_is_generated_from_the_schema():
    current = (ROOT / "docs" / "study-file.md").read_text(encoding="utf-8")
    assert current == reference.render(), \
        "docs/study-file.md is out of date: python -m study.reference > docs/study-file.md"


def test_reference_lists_every_key_of_the_schema():
    import dataclasses

    from study.study_file import SECTION_TYPES

    text = reference.render()
    for section, cls in SECTION_TYPES.items():
        for f in dataclasses.fields(cls):
            if not (section == "run" and f.name in (*reference.RUN_SUBSECTIONS, "hparams")):
                assert f"| `{f.name}` |" in text, f"{section}.{f.name}"
    for name, cls in reference.RUN_SUBSECTIONS.items():
        assert f"### `[run.{name}]`" in text
        assert all(f"| `{f.name}` |" in text for f in dataclasses.fields(cls))
    assert "`auto`, `always`, `never`" in text  # choice(...) in DataConfig.validate
    assert "| `beta1_d` | number | `0.5` | in [0, 1) |" in text  # bound(...) in the metadata


def test_reference_check_flags_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "study-file.md"
    stale.write_text(reference.render() + "edited by hand\n")
    assert reference.main(["--check", str(stale)]) == 1
    stale.write_text(reference.render())
    assert reference.main(["--check", str(stale)]) == 0
    assert reference.main(["--check", str(tmp_path / "missing.md")]) == 1


# -- (c) study files in the docs and in study/ -------------------------------------------------
def toml_study_blocks() -> list[tuple[str, dict, str]]:
    """(where, document, the prose just above) of every ```toml block that is a whole study."""
    out = []
    for path in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for lang, body, start in blocks_and_text(text)[0]:
            if lang != "toml":
                continue
            doc = tomllib.loads(body)
            if "gans" in doc or "name" in doc:
                above = "\n".join(lines[max(0, start - 4):start - 1])
                out.append((f"{_rel(path)}:{start}", doc, above))
    return out


TOML_BLOCKS = toml_study_blocks()


def test_docs_show_whole_study_files():
    assert any(where.startswith("README.md") for where, _, _ in TOML_BLOCKS)


@pytest.mark.parametrize("where,doc,above", TOML_BLOCKS, ids=[b[0] for b in TOML_BLOCKS])
def test_study_file_in_docs_validates(where, doc, above):
    study = parse_study(doc)  # raises StudyError naming the field
    assert study.gans
    named = re.findall(r"`(study/[\w/.-]+\.toml)`", above)  # "This is `study/...toml`": the same study
    for name in named:
        assert doc == read_document(ROOT / name), f"{where} differs from {name}"


def _study_command() -> str:
    local = Path(sys.executable).with_name("study")
    return str(local) if local.exists() else shutil.which("study") or "study"


# Runs `study run --dry-run FILE` through the `study` command's entry point (study.cli:main) for
# every file in one subprocess: one start-up (Ray, Optuna, MLflow imports) instead of one per file.
DRY_RUN_ALL = """
import contextlib, io, json, sys
from study.cli import main
results = {}
for path in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", "--dry-run", path])
    results[path] = [code, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """``study run --dry-run FILE`` of every shipped study file, and of one broken file."""
    import json

    bad = tmp_path_factory.mktemp("bad") / "bad.toml"
    bad.write_text('name = "x"\ngans = ["tripletgan"]\n[run]\nsteps = 0\n')
    paths = [str(p) for p in (*STUDY_FILES, bad)]
    result = subprocess.run([sys.executable, "-c", DRY_RUN_ALL, *paths], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return {Path(path): tuple(value) for path, value in json.loads(result.stdout).items()} | {"bad": bad}


@pytest.mark.parametrize("path", STUDY_FILES, ids=_rel)
def test_shipped_study_file_dry_runs(dry_runs, path):
    code, out, err = dry_runs[path]
    assert code == 0, err
    assert out.startswith(f"# study file: {path}") and "# metric: " in out


def test_dry_run_rejects_a_bad_study_file(dry_runs):
    code, out, err = dry_runs[dry_runs["bad"]]
    assert code == 2 and out == ""
    assert err.startswith("study: error: run.steps = 0") and len(err.splitlines()) == 1


def test_the_study_command_dry_runs_the_quickstart():
    """The installed `study` command itself: no file means the built-in quickstart."""
    result = subprocess.run([_study_command(), "run", "--dry-run"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"# study file: {QUICKSTART}\nname: quickstart\n")


# -- (d) the README ----------------------------------------------------------------------------
def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES


def test_readme_keeps_the_commands_ci_and_users_run():
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    marks = [i for i, line in enumerate(lines) if line.startswith("# test command")]
    assert len(marks) == 1, "README.md needs exactly one '# test command' line (.ci/run greps it)"
    assert lines[marks[0] + 1] == TEST_COMMAND
    bash = [body for lang, body, _ in blocks_and_text(text)[0] if lang == "bash"]
    assert any(f"# test command\n{TEST_COMMAND}\n" in body for body in bash)
    assert any(MAIN_COMMAND in body.splitlines() for body in bash)


# -- commands shown in the docs ---------------------------------------------------------------------
def shown_commands(prefixes: tuple[str, ...]) -> list[tuple[str, int, list[str]]]:
    """(file, line, argv after the program) of every command in a bash/sh/console block of the
    docs whose program is one of ``prefixes`` (``.venv/bin/`` dropped; continuation lines joined,
    comments and ``$ `` prompts removed)."""
    import shlex

    found = []
    for path in DOC_FILES:
        blocks, _ = blocks_and_text(path.read_text())
        for lang, body, start in blocks:
            if lang not in ("bash", "sh", "shell", "console", ""):
                continue
            joined = body.replace("\\\n", " ").splitlines()
            for offset, line in enumerate(joined, 1):
                for part in re.split(r"\s*(?:&&|\|\||;)\s*", line.strip().removeprefix("$ ")):
                    try:
                        words = shlex.split(part, comments=True)
                    except ValueError:
                        continue
                    words = [w.removeprefix(".venv/bin/") for w in words]
                    for prefix in prefixes:
                        n = len(prefix.split())
                        if words[:n] == prefix.split():
                            found.append((_rel(path), start + offset, words[n:]))
    return found


STUDY_COMMANDS = shown_commands(("study",))
TRAIN_COMMANDS = shown_commands(("python -m trainables.train",))


def test_the_docs_show_commands():
    assert len(STUDY_COMMANDS) >= 10 and TRAIN_COMMANDS


@pytest.mark.parametrize("where, line, argv", STUDY_COMMANDS, ids=lambda v: str(v) if not isinstance(v, list) else None)
def test_study_command_in_docs_parses(where, line, argv):
    """Each `study ...` line of the docs is accepted by the CLI's own parser (names and options)."""
    from study.cli import build_parser

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}:{line}: `study {' '.join(argv)}` is refused by the parser (exit {exc.code})")
    assert callable(args.func)


@pytest.mark.parametrize("where, line, argv", TRAIN_COMMANDS, ids=lambda v: str(v) if not isinstance(v, list) else None)
def test_train_command_in_docs_dry_runs(where, line, argv, capsys):
    """Each `python -m trainables.train ...` line of the docs resolves its config (``--dry-run``)."""
    from trainables.train import main

    assert main([*argv, "--dry-run"]) == 0, f"{where}:{line}: {capsys.readouterr().err}"
