"""Every benchmark script runs at its --smoke-test size (the full sizes are run by hand)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))  # _x.py: helpers
# a script whose measurements another script's smoke test runs (CI time): only its command line here
COVERED_BY = {"wrapper_overhead.py": "overheads.py"}  # overheads.py (a) calls its bare/fit/tune rates


def test_there_are_benchmarks():
    assert {"toy_modes.py", "eval_cache.py", "mnist_fid_curve.py", "asha_vs_full.py", "overheads.py",
            "scaling.py", "mode_coverage.py", "mnist_class_balance.py"} <= set(SCRIPTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", [s for s in SCRIPTS if s not in COVERED_BY])
def test_benchmark_smoke(script, mnist_cache_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_DASHBOARD_ENABLED": "0"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke-test"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip(), "a benchmark prints its table"


@pytest.mark.parametrize("script", sorted(COVERED_BY))
def test_covered_scripts_parse_their_command_line(script):
    assert COVERED_BY[script] in SCRIPTS
    module = (ROOT / "benchmarks" / COVERED_BY[script]).read_text()
    assert f"import {script[:-3]}" in module  # the covering script really runs its functions
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--smoke-test" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is visible")
def test_gpu_check_says_no_cuda_device_and_writes_nothing(tmp_path):
    out = tmp_path / "gpu.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.count("\n") == 1 and "no CUDA device found" in proc.stdout
    assert not out.exists()
