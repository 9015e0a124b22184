"""Servers the study tests start and stop themselves, on 127.0.0.1 and free ports: ``mlflow server``
(any backend store) and a throwaway PostgreSQL cluster (Debian's ``postgresql`` package; ``.ci/run``
installs it). Each is stopped at the end and must leave no process behind."""

from __future__ import annotations

import contextlib
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

STARTUP_TIMEOUT_S = 90  # until GET /health answers
STOP_TIMEOUT_S = 20  # SIGTERM to the server's group, then SIGKILL


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of the process group ``pgid`` (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def stop_group(proc: subprocess.Popen, sig_first: int = signal.SIGTERM) -> None:
    """Signal the server's process group (server, uvicorn worker, job runner), SIGKILL after
    STOP_TIMEOUT_S, and wait until none of its processes is left."""
    pgid = proc.pid  # start_new_session=True: the server leads its own group
    for sig, wait_s in ((sig_first, STOP_TIMEOUT_S), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        deadline = time.time() + wait_s
        while time.time() < deadline:
            if proc.poll() is not None and not group_members(pgid):
                return
            time.sleep(0.2)


def start_mlflow_server(root: Path, backend_uri: str, port: int | None = None) -> dict:
    """``mlflow server`` on 127.0.0.1 (artifacts proxied into ``root/artifacts``), once /health
    answers: {url, port, artifacts, proc, log}. Stop it with :func:`stop_group`."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    artifacts = root / "artifacts"
    log_path = root / f"server-{port}-{time.time_ns()}.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--backend-store-uri", backend_uri,
           "--artifacts-destination", str(artifacts), "--serve-artifacts"]
    # No job-execution workers (8 huey processes each importing MLflow: seconds of CPU on 2
    # cores, and slow to stop); the tracking API, artifacts and the registry do not use them.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.time() + STARTUP_TIMEOUT_S
    while not healthy(url):
        if proc.poll() is not None or time.time() > deadline:
            stop_group(proc)
            raise RuntimeError(f"mlflow server did not answer /health (exit {proc.poll()}):\n"
                               + log_path.read_text()[-3000:])
        time.sleep(0.5)
    return {"url": url, "port": port, "artifacts": artifacts, "proc": proc, "log": log_path}


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), newest version first."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return versions[-1].parent if versions else None


@contextlib.contextmanager
def postgres_server(databases=("mlflow",)):
    """A throwaway PostgreSQL cluster on 127.0.0.1 and a free port (trust authentication, user
    ``postgres``) holding ``databases``; yields {port, url(db) -> SQLAlchemy URL, log}; stopped
    and removed afterwards. As root, the server runs as the ``postgres`` user (PostgreSQL refuses
    root), so its folder lies outside pytest's root-only temp folder."""
    import psycopg

    bindir = postgres_bin()
    data = Path(tempfile.mkdtemp(prefix="pg-test-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    log = data / "server.log"

    def run(*args: str) -> None:
        subprocess.run(as_user + [str(bindir / args[0]), *args[1:]], check=True, capture_output=True, text=True)

    try:
        run("initdb", "-D", str(data / "db"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        run("pg_ctl", "-D", str(data / "db"), "-l", str(log), "-w", "-t", "60", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c max_connections=200", "start")
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            for name in databases:
                conn.execute(f"CREATE DATABASE {name}")
        yield {"port": port, "log": log,
               "url": lambda db: f"postgresql://postgres@127.0.0.1:{port}/{db}"}
    finally:
        with contextlib.suppress(Exception):
            run("pg_ctl", "-D", str(data / "db"), "-m", "fast", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)
