"""A real Airflow (`airflow standalone`: api-server, scheduler, dag-processor, triggerer, LocalExecutor) for
a given AIRFLOW_HOME, in its own process group, bound to 127.0.0.1.

    start_background(home, port=None, env=None) -> {pid, pgid, port, url, username, password, home, log}
    wait_healthy(url, timeout)
    stop(pid)                    # the whole process group (localstack.processes.stop_group)

Login: the simple auth manager with one user `admin`, whose password is generated once and kept in the
home (simple_auth_manager_passwords.json.generated, mode 0600): never in the repository.
`python -m tools.stack airflow` (make airflow) runs the local stack's Airflow through localstack.stack.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from localstack import ROOT
from localstack.airflow_env import project_env
from localstack.ports import free_port, port_free
from localstack.processes import stop_group as stop
from localstack.settings import import_settings, read_settings

USERNAME = "admin"
DEFAULT_PORTS = {"api": 8080, "worker_log": 8793, "trigger_log": 8794}
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
LOG_FILE = "airflow-server.log"


def choose_ports(api_port: int | None = None) -> dict[str, int]:
    """Airflow's usual ports where free, else free ones; an explicit api port is taken as given."""
    ports: dict[str, int] = {}
    for name, preferred in DEFAULT_PORTS.items():
        if name == "api" and api_port:
            ports[name] = api_port
        elif port_free(preferred) and preferred not in ports.values():
            ports[name] = preferred
        else:
            ports[name] = free_port(set(ports.values()))
    return ports


def admin_password(home: Path) -> str:
    """The admin password, generated on first use and stored in the simple auth manager's own file."""
    path = home / PASSWORDS_FILE
    if path.exists():
        stored = json.loads(path.read_text() or "{}")
        if stored.get(USERNAME):
            return stored[USERNAME]
    else:
        stored = {}
    stored[USERNAME] = secrets.token_urlsafe(12)
    home.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(stored) + "\n")
    return stored[USERNAME]


SCHEDULER_IDLE_SLEEP_TIME = "0.2"


def server_env(home: Path, ports: dict[str, int], env: dict | None = None) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    url = f"http://127.0.0.1:{ports['api']}"
    return {
        **os.environ,
        **project_env(home),
        # `airflow standalone` starts its parts as `airflow ...` from PATH
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")]),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
        "AIRFLOW__API__PORT": str(ports["api"]),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",   # two cores: one api worker is plenty for one person and a test
        # task processes reach the scheduler only through the execution API: it must follow the port
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["worker_log"]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger_log"]),
        # an idle scheduler sleeps this long between loops (default 1 s), and every step of a migration
        # waits for the next loop to be scheduled; 0.2 s costs a few percent of one core when idle
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": SCHEDULER_IDLE_SLEEP_TIME,
        **(env or {}),
    }


def start_background(home: Path, port: int | None = None, env: dict | None = None, timeout: float = 240) -> dict:
    """Start Airflow for `home` in a new process group and wait until every component is healthy.

    `env` adds variables to the server's environment (e.g. AIRFLOW_CONN_* for connections)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    ports = choose_ports(port)
    # ports given through `env` win (tests pick free ones rather than Airflow's usual 8793/8794)
    for name, var in (("worker_log", "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"),
                      ("trigger_log", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT")):
        if (env or {}).get(var):
            ports[name] = int(env[var])
    if not port_free(ports["api"]):
        raise RuntimeError(f"port {ports['api']} is taken: cannot start the Airflow api-server there")
    password = admin_password(home)
    log_path = home / LOG_FILE
    log = open(log_path, "ab")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=server_env(home, ports, env), start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{ports['api']}"
    info = {"pid": proc.pid, "pgid": os.getpgid(proc.pid), "port": ports["api"], "url": url,
            "username": USERNAME, "password": password, "home": str(home), "log": str(log_path),
            "worker_log_port": ports["worker_log"], "trigger_log_port": ports["trigger_log"]}
    try:
        wait_healthy(url, timeout, proc=proc)
        # the DAGs' pools (pgferry_copy, rds_snapshot_copy): a task in a missing pool is never scheduled
        import_settings({**read_settings(), "connections": {}, "variables": {}}, env=server_env(home, ports, env))
    except BaseException:
        stop(proc.pid)
        raise
    return info


def health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as r:
        return json.loads(r.read())


def wait_healthy(url: str, timeout: float = 240, proc: subprocess.Popen | None = None):
    """Until the metadata DB, scheduler, triggerer and dag-processor all report healthy."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with {proc.returncode} before it was healthy")
        try:
            last = health(url)
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            if all((last.get(p) or {}).get("status") == "healthy" for p in parts):
                return last
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as e:
            last = e
        time.sleep(1)
    raise TimeoutError(f"Airflow at {url} not healthy after {timeout:.0f} s (last answer: {last})")
