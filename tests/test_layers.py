"""The package's layers import one way and without cycles (checked on the import statements
of every module, function-level imports included):

    trainables (torch only: no Ray, no MLflow, no Optuna)  <-  search_spaces (Optuna helpers)
    <-  study.tracking (MLflow, no Ray)  <-  study.trainable (Ray worker side)
    <-  the driver (study.sweep, study.lifecycle, study.report, study.cli, ...)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trainables", "search_spaces", "study")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, *, top_level_only: bool) -> set[str]:
    """Absolute names this module imports (``from a.b import c`` -> ``a.b.c`` when that is a
    module of ours, else ``a.b``)."""
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in MODULES else node.module)
    return names


def _ours(name: str) -> str | None:
    """The module of ours ``name`` loads (the longest known prefix), None for third-party names."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in MODULES:
            return candidate
    return None


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    graph = {}
    for module in MODULES:
        deps = {_ours(n) for n in _imports(module, top_level_only=top_level_only)} - {None, module}
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        graph[module] = {p for d in deps for p in _parents(d)} - {module} | deps
    return graph


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in MODULES]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (depth-first search), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_even_through_function_level_imports():
    assert _cycle(_graph(top_level_only=False)) is None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _third_party(module: str) -> set[str]:
    return {n.split(".")[0] for n in _imports(module, top_level_only=False) if _ours(n) is None}


def _layer(module: str) -> int:
    if module.startswith("trainables"):
        return 0
    if module.startswith("search_spaces"):
        return 1
    return {"study.study_file": 1, "study.study_schema": 1, "study.study_checks": 1, "study.study_smoke": 1,
            "study.trial_spec": 1,
            "study.tracking": 2, "study.trainable": 3, "study.trial_checkpoints": 3, "study.trial_records": 3}.get(module, 4)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module):
    deps = {_ours(n) for n in _imports(module, top_level_only=False)} - {None, module}
    upward = sorted(d for d in deps if _layer(d) > _layer(module))
    assert upward == [], f"{module} (layer {_layer(module)}) imports {upward}"
    if _layer(module) <= 2:
        assert "ray" not in _third_party(module), f"{module} imports Ray"
    if _layer(module) == 0:
        assert not {"mlflow", "optuna"} & _third_party(module), f"{module} imports MLflow/Optuna"


def test_layer_rules_are_enforced_on_a_bad_import(tmp_path, monkeypatch):
    """The checker itself: a trainables module importing study is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from study.tracking import TAG_GAN\nimport ray\n")
    monkeypatch.setitem(MODULES, "trainables.bad", bad)
    with pytest.raises(AssertionError, match="imports"):
        test_imports_run_one_way("trainables.bad")


MAX_FUNCTION_LINES = 60  # longer functions are split (or say in a comment why not)


def test_no_function_is_longer_than_the_limit():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == []


def test_config_error_has_one_home():
    """ConfigError is defined in trainables.schema and imported from there only."""
    import re

    pattern = re.compile(r"from trainables\.config import[^\n]*\bConfigError\b|trainables\.config\.ConfigError")
    offenders = [name for name, path in MODULES.items() if pattern.search(Path(path).read_text())]
    tests = [str(p) for p in Path(__file__).parent.rglob("*.py") if p.name != "test_layers.py"
             and pattern.search(p.read_text())]
    assert offenders == [] and tests == []


def _closure(module: str) -> set[str]:
    graph, seen, todo = _graph(top_level_only=False), set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph[m])
    return seen


def test_the_ray_worker_needs_no_search_space():
    """A trial's worker merges its point over the base run the driver prepared
    (``study.sweep.gan_constants``): nothing it loads imports the search spaces or Optuna."""
    worker = _closure("study.trainable")
    assert "study.trial_spec" in worker and "trainables.config" in worker  # the closure is followed
    assert not {m for m in worker if m.startswith("search_spaces")}
    assert not {m for m in worker if "optuna" in _third_party(m)}


def test_metric_names_are_written_once():
    """MLflow metric keys are spelled out only in their tables (trainables.metric_names, the
    tracking module); every other module, benchmark and tool uses the constants."""
    import re

    bare = re.compile(r"""["'](eval|eval_raw|best|trained|loss)/[a-z_0-9]+["']""")
    homes = {ROOT / "trainables" / "metric_names.py", ROOT / "study" / "tracking.py"}
    files = [p for d in (*PACKAGES, "benchmarks", "tools") for p in (ROOT / d).rglob("*.py") if p not in homes]
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in files
                 for i, line in enumerate(p.read_text().splitlines(), 1) if bare.search(line)]
    assert len(files) > 100 and offenders == []
