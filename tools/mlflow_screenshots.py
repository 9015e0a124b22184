"""Headless-Chromium screenshots of the MLflow UI for a finished study (for the README).

Usage (from the repository root; needs Debian's ``chromium``: ``apt-get install -y chromium``)::

    .venv/bin/python tools/mlflow_screenshots.py --study-dir /tmp/shots/quickstart
    .venv/bin/python tools/mlflow_screenshots.py --study-dir DIR --out /tmp/png --wait 10

A study folder that was copied or moved must be relocated first
(``.venv/bin/study relocate DIR``), or its runs point at the old artifact paths.

It reads ``study_state.json`` and ``leaderboard.json``, serves the study's tracking
store with ``mlflow ui`` on 127.0.0.1 (a free port, stopped at the end), and writes:

* ``runs_table.png``           the experiment's runs, best ``best/<metric>`` first
* ``parent_run.png``           the study's parent run (leaderboard in its description)
* ``best_trial.png``           the winning trial's run page
* ``best_trial_artifacts.png`` the winning trial's ``best_samples.png`` artifact

The browser opens ``http://mlflow.localhost:PORT``: Chromium resolves ``*.localhost``
to the loopback address itself, and a host name other than ``localhost``/``127.0.0.1``
keeps MLflow 3.x from popping its "MLflow Assistant" side panel open on first load.
``--virtual-time-budget`` lets the React app fetch and render before the screenshot;
without it Chromium captures the loading skeleton.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

from trainables import metric_names as M  # noqa: E402

HOST = "mlflow.localhost"  # what the browser uses; the server listens on 127.0.0.1 only
ML = "workflowType=machine_learning"  # "Model training" UI rather than the GenAI one


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tracking_uri: str, port: int, timeout: float) -> subprocess.Popen:
    origin = f"{HOST}:{port}"
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--allowed-hosts", f"127.0.0.1:{port},localhost:{port},{origin}",
           "--cors-allowed-origins", f"http://{origin}"]
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: access logs must not block
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            err = (log.read().strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"error: mlflow ui exited with code {proc.returncode}: {err}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    stop_server(proc)
    raise SystemExit(f"error: mlflow ui did not answer on 127.0.0.1:{port} within {timeout:.0f}s")


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate mlflow ui and the uvicorn workers it spawned (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def screenshot(chromium: str, url: str, png: Path, wait_s: float, profile: str) -> None:
    cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={profile}", "--window-size=1600,1000",
           f"--virtual-time-budget={int(wait_s * 1000)}", f"--screenshot={png}", url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=wait_s * 6 + 60)
    if res.returncode != 0 or not png.is_file():
        err = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"error: chromium failed on {url}: {err}")
    if png.stat().st_size < 20_000:  # the loading skeleton is ~7 KB, a rendered page >70 KB
        print(f"warning: {png} looks unrendered; try a larger --wait", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study-dir", required=True, type=Path, help="study folder (study_state.json)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots",
                    help="output folder (default: docs/screenshots in the repository)")
    ap.add_argument("--port", type=int, default=0, help="mlflow ui port (default: a free one)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                    help="Chromium binary (default: found on PATH)")
    ap.add_argument("--wait", type=float, default=10.0,
                    help="seconds of virtual time each page gets to render (default: 10)")
    ap.add_argument("--server-timeout", type=float, default=180.0,
                    help="seconds to wait for mlflow ui to start (default: 180)")
    args = ap.parse_args()

    if not args.chromium or not shutil.which(args.chromium):
        raise SystemExit("error: chromium not found (apt-get install -y chromium, or pass --chromium)")
    state = json.loads((args.study_dir / "study_state.json").read_text())
    board = json.loads((args.study_dir / "leaderboard.json").read_text())
    if not board:
        raise SystemExit(f"error: {args.study_dir}/leaderboard.json is empty")
    best = board[0]
    exp, parent, best_run = state["experiment_id"], state["parent_run_id"], best["run_id"]
    sort_key = quote(f"metrics.`best/{best.get('metric', M.EVAL_FIT)}`", safe="")
    ascending = str(best.get("mode") == "min").lower()

    port = args.port or free_port()
    base = f"http://{HOST}:{port}/#/experiments/{exp}"
    pages = {
        "runs_table.png": f"{base}/runs?{ML}&orderByKey={sort_key}&orderByAsc={ascending}",
        "parent_run.png": f"{base}/runs/{parent}?{ML}",
        "best_trial.png": f"{base}/runs/{best_run}?{ML}",
        "best_trial_artifacts.png": f"{base}/runs/{best_run}/artifacts/best_samples.png?{ML}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    server = start_server(state["tracking_uri"], port, args.server_timeout)
    try:
        for name, url in pages.items():
            with tempfile.TemporaryDirectory(prefix="mlflow-shot-") as profile:
                screenshot(args.chromium, url, args.out / name, args.wait, profile)
            print(args.out / name)
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
