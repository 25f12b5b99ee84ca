"""An Airflow that is already up, as users run it: `airflow standalone` (scheduler with LocalExecutor,
dag-processor, api-server, triggerer) in its own process group, bound to 127.0.0.1 on free ports.

Uses tools.airflow_server.start_background/stop when that module exists; otherwise the minimal
equivalent below (venv bin on PATH, AIRFLOW__API__HOST=127.0.0.1, EXECUTION_API_SERVER_URL pointing at
the api-server's port, stopped by process group).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def airflow_env(home: Path, extra: dict | None = None) -> dict:
    from tests.support.pgcluster import free_port
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]),
    })
    env.update(extra or {})
    return env


def _start_minimal(home: Path, port: int, env: dict) -> dict:
    env = {**env, "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/"}
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "standalone.log", "ab")
    proc = subprocess.Popen([str(VENV_BIN / "airflow"), "standalone"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return {"pid": proc.pid, "pgid": proc.pid, "port": port, "url": f"http://127.0.0.1:{port}",
            "username": "admin", "password": None, "env": env, "proc": proc}


def start(home: Path, env_extra: dict | None = None, timeout: float = 240) -> dict:
    """Start Airflow and wait until the api-server answers and the DAG is parsed; returns its info."""
    from tests.support.pgcluster import free_port
    env = airflow_env(home, env_extra)
    port = free_port()
    info = None
    try:
        from tools import airflow_server  # written by another engineer; preferred when present
        info = dict(airflow_server.start_background(home, port=port, env=env))
        info.setdefault("env", {**env, "AIRFLOW__API__PORT": str(info["port"]),
                                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
                                    f"http://127.0.0.1:{info['port']}/execution/"})
        info["impl"] = "tools.airflow_server"
    except ImportError:
        pass
    except Exception as e:   # present but not working: fall back, say so
        print(f"tools.airflow_server.start_background failed ({e!r}): using bench's minimal starter",
              file=sys.stderr)
        info = None
    if info is None:
        info = _start_minimal(home, port, env)
        info["impl"] = "bench.airflow_up (airflow standalone)"
    info["home"] = str(home)
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(info["url"] + "/api/v2/monitor/health", timeout=2) as r:
                health = json.load(r)
            if health.get("scheduler", {}).get("status") == "healthy" and \
                    (health.get("dag_processor") or {}).get("status") == "healthy":
                break
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            pass
        if time.time() > deadline or ("proc" in info and info["proc"].poll() is not None):
            stop(info)
            raise RuntimeError(f"Airflow did not become healthy; see {home}/standalone.log")
        time.sleep(1)
    if not info.get("password"):
        pw = home / "simple_auth_manager_passwords.json.generated"
        for _ in range(60):
            if pw.exists():
                creds = json.loads(pw.read_text())
                info["username"], info["password"] = next(iter(creds.items()))
                break
            time.sleep(0.5)
    return info


def stop(info: dict):
    if info.get("impl") == "tools.airflow_server":
        from tools import airflow_server
        airflow_server.stop(info["pid"])
        return
    pgid = info.get("pgid") or info.get("pid")
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Api:
    """The bits of the REST API the benchmark needs (JWT from /auth/token)."""

    def __init__(self, info: dict):
        self.url = info["url"]
        self.user, self.password = info.get("username"), info.get("password")
        self.token = None

    def _auth(self):
        body = json.dumps({"username": self.user, "password": self.password}).encode()
        req = urllib.request.Request(self.url + "/auth/token", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            self.token = json.load(r)["access_token"]

    def get(self, path: str) -> dict:
        for attempt in (0, 1):
            if self.token is None:
                self._auth()
            req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return json.load(r)
            except urllib.error.HTTPError as e:
                if e.code in (401, 403) and attempt == 0:
                    self.token = None
                    continue
                raise
        raise RuntimeError("unreachable")

    def airflow_cli(self, *args, env: dict) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "airflow"), *args], capture_output=True, text=True, env=env, cwd=ROOT)
