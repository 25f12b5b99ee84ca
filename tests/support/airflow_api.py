"""Airflow's REST API (v2) as the fault tests use it: connections, trigger, and bounded waits on a run.

Logs in once with the simple auth manager's admin (POST /auth/token). Every request and every wait is bounded.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

REQUEST_TIMEOUT = 30
FINISHED = ("success", "failed")


class AirflowApi:
    def __init__(self, url: str, username: str, password: str):
        self.url = url
        body = json.dumps({"username": username, "password": password}).encode()
        req = urllib.request.Request(f"{url}/auth/token", data=body, headers={"Content-Type": "application/json"},
                                     method="POST")
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as r:
            self._token = json.loads(r.read())["access_token"]

    def request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/api/v2{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self._token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read()[:2000].decode(errors='replace')}") from e
        return json.loads(raw) if raw else None

    def get(self, path: str):
        return self.request("GET", path)

    # -- setup ---------------------------------------------------------------------------------------------
    def put_connection(self, conn_id: str, **fields):
        """Create or replace a connection in the metadata DB (every worker sees it)."""
        body = {"connection_id": conn_id, **fields}
        try:
            self.request("DELETE", f"/connections/{conn_id}")
        except RuntimeError as e:
            if "HTTP 404" not in str(e):
                raise
        self.request("POST", "/connections", body)

    def postgres_connection(self, conn_id: str, host: str, port: int, dbname: str, user: str = "postgres"):
        self.put_connection(conn_id, conn_type="postgres", host=host, port=port, schema=dbname, login=user)

    def delete_pool(self, name: str):
        """Remove a pool (e.g. to reproduce an Airflow where `pgferry_copy` was never created)."""
        self.request("DELETE", f"/pools/{name}")

    def set_pool(self, name: str, slots: int, description: str = "pgferry COPY streams"):
        """Create or replace a pool."""
        if name in self.pools():
            self.request("PATCH", f"/pools/{name}", {"name": name, "slots": slots, "description": description})
        else:
            self.request("POST", "/pools", {"name": name, "slots": slots, "description": description,
                                            "include_deferred": False})

    def pools(self) -> dict[str, dict]:
        return {p["name"]: p for p in self.get("/pools?limit=100")["pools"]}

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.get(f"/dags/{dag_id}")
            except RuntimeError as e:
                if "HTTP 404" not in str(e) or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    # -- runs ----------------------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: dict) -> str:
        """Unpause the DAG and start a run with `conf`; returns its run id."""
        self.request("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = self.request("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=200")["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1) -> str:
        """One attempt's log as text (each structured line's event and fields, one per line)."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
                        f"?map_index={map_index}&full_content=true")
        content = body.get("content") if isinstance(body, dict) else body
        if isinstance(content, str):
            return content
        return "\n".join(json.dumps(line, default=str) if not isinstance(line, str) else line
                         for line in content or [])

    def states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {label(t): t["state"] for t in self.task_instances(dag_id, run_id)}

    def end_unfinished_runs(self, dag_id: str) -> list[str]:
        """Mark every queued or running run of `dag_id` failed (Airflow then stops its running tasks)."""
        runs = self.get(f"/dags/{dag_id}/dagRuns?state=queued&state=running&limit=100")["dag_runs"]
        for r in runs:
            self.request("PATCH", f"/dags/{dag_id}/dagRuns/{r['dag_run_id']}", {"state": "failed"})
        return [r["dag_run_id"] for r in runs]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, poll: float = 2.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED:
                return run
            time.sleep(poll)
        raise TimeoutError(f"{dag_id} run {run_id} not finished after {timeout:.0f} s: "
                           f"{self.states(dag_id, run_id)}")

    def wait_for_task_state(self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float,
                            poll: float = 0.3) -> list[dict]:
        """Until at least one instance of `task_id` is in `state`; returns those instances."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tis = [t for t in self.task_instances(dag_id, run_id) if t["task_id"] == task_id and t["state"] == state]
            if tis:
                return tis
            if self.run(dag_id, run_id)["state"] in FINISHED:
                break
            time.sleep(poll)
        raise TimeoutError(f"no {task_id} {state} within {timeout:.0f} s: {self.states(dag_id, run_id)}")


def label(ti: dict) -> str:
    return ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"


def wait_parking_seen(api: AirflowApi, log: Path, dag_id: str, run_id: str, task_id: str, timeout: float) -> dict:
    """Wait until the human-in-the-loop task `task_id` is parked (awaiting_input) and the scheduler has taken
    in the exit of the try that parked it, as its log (`airflow standalone`'s, at `log`) shows; returns the
    task instance. Answer only then.

    Why: in Airflow 3.3.2 an answer that resumes the task (SCHEDULED, then QUEUED, under the same try number)
    before the scheduler has processed the executor's "success" of the parking exit makes that late event
    read as "finished with state success, but the task instance's state attribute is queued": the task is
    failed into a retry, which asks again (seen in CI and under load). A person answers minutes later; a test
    answers within a second. The scheduler logs the event with the task instance's state as it read it:
    "awaiting_input" there means the event is behind us."""
    api.wait_for_task_state(dag_id, run_id, task_id, "awaiting_input", timeout=timeout, poll=1)
    ti = next(t for t in api.task_instances(dag_id, run_id) if t["task_id"] == task_id)
    needle = f"TaskInstance Finished: dag_id={dag_id}, task_id={task_id}, run_id={run_id}, map_index=-1,"
    seen = ("state=awaiting_input, executor=", f"try_number={ti['try_number']},")
    deadline = time.monotonic() + timeout
    while not any(needle in line and all(s in line for s in seen)
                  for line in log.read_text(errors="replace").splitlines()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{task_id} of {run_id}: the scheduler did not report the parking exit of try "
                               f"{ti['try_number']} within {timeout:.0f} s (looked for {needle!r} in {log})")
        time.sleep(0.5)
    return ti
