"""An Airflow that is already up, as users run it: `airflow standalone` (scheduler with LocalExecutor,
dag-processor, api-server, triggerer) in its own process group, bound to 127.0.0.1 on free ports, started
by localstack.airflow_server like `make airflow` and the browser tests.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from localstack import airflow_server


def start(home: Path, env_extra: dict | None = None, timeout: float = 240) -> dict:
    """Start Airflow with the benchmark's connections; returns its info plus the environment that CLI
    calls (`airflow dags trigger`) need to reach the same Airflow."""
    from localstack.ports import free_port
    env = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
           **(env_extra or {})}
    info = dict(airflow_server.start_background(home, port=free_port(), env=env, timeout=timeout))
    ports = {"api": info["port"], "worker_log": info["worker_log_port"], "trigger_log": info["trigger_log_port"]}
    info["env"] = airflow_server.server_env(Path(home), ports, env)
    return info


def stop(info: dict):
    airflow_server.stop(info["pid"])


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
        return self.request("GET", path)

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        for attempt in (0, 1):
            if self.token is None:
                self._auth()
            headers = {"Authorization": f"Bearer {self.token}"}
            data = None
            if body is not None:
                data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
            req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
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
        return subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], capture_output=True, text=True,
                              env=env, cwd=airflow_server.ROOT)
