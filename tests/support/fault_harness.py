"""Fault harness under a real scheduler: Airflow (LocalExecutor, `airflow standalone`) on a private home,
the migration triggered through the REST API, and the target observed from the server side.

    with LocalAirflow(settings={...}) as airflow:                       # ~40 s to healthy
        airflow.api.postgres_connection("t", proxy.host, proxy.port, target_db)
        run_id = airflow.api.trigger("postgres_logical_migration", conf)
        copying = wait_for_copy(pg_target, target_db, timeout=180)      # a lane is mid-COPY
        proxy.blackhole(existing_only=True)                             # ... and observe

The scheduler's recovery settings are the fleet's (localstack.fleet.RECOVERY_SETTINGS: a task that stops
heartbeating is failed in ~20 s); `settings` overrides them.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from tests.support.airflow_api import AirflowApi

# The local stack's pieces (moving into localstack/): the one place to repoint.
from localstack.fleet import RECOVERY_SETTINGS  # noqa: E402
from localstack.ports import free_port  # noqa: E402
from localstack import airflow_server  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "faults"
DAG_ID = "postgres_logical_migration"
# the copy statements of a lane's sessions (include/pgferry/data/copy.py): into the target, out of the source
COPY_IN = "COPY %FROM STDIN%"
COPY_OUT = "COPY %TO STDOUT%"

class LocalAirflow:
    def __init__(self, env: dict | None = None, settings: dict | None = None, name: str = "local-airflow"):
        self.name = name
        self.home = Path(tempfile.mkdtemp(prefix=f"pgferry-{name}-"))
        self.env = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                    **{k: v for k, v in RECOVERY_SETTINGS.items() if k.startswith("AIRFLOW__SCHEDULER__")},
                    **(settings or {}), **(env or {})}
        self.info: dict = {}
        self.api: AirflowApi | None = None

    def __enter__(self) -> "LocalAirflow":
        self.info = airflow_server.start_background(self.home, port=free_port(), env=self.env)
        try:
            self.api = AirflowApi(self.info["url"], self.info["username"], self.info["password"])
            self.api.wait_for_dag(DAG_ID)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.info:
            airflow_server.stop(self.info["pid"])
        dest = ARTIFACTS / self.name
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        if (self.home / airflow_server.LOG_FILE).exists():
            shutil.copy(self.home / airflow_server.LOG_FILE, dest / airflow_server.LOG_FILE)
        if (self.home / "logs").exists():
            shutil.copytree(self.home / "logs", dest / "task-logs", dirs_exist_ok=True)
        shutil.rmtree(self.home, ignore_errors=True)


def copy_backends(cluster, dbname: str, pattern: str = COPY_IN) -> list[tuple]:
    """(pid, state, wait_event) of every session on `dbname` running a COPY like `pattern` (COPY_IN: a lane
    writing into the target; COPY_OUT: a lane reading the source)."""
    return cluster.query("SELECT pid, state, wait_event FROM pg_stat_activity WHERE datname = %s "
                         "AND query ILIKE %s AND pid <> pg_backend_pid() ORDER BY pid",
                         params=(dbname, pattern))


def wait_for_copy(cluster, dbname: str, timeout: float, poll: float = 0.2, pattern: str = COPY_IN) -> list[tuple]:
    """Until a lane's COPY on `dbname` is under way (seen from the server); returns its sessions."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = copy_backends(cluster, dbname, pattern)
        if found:
            return found
        time.sleep(poll)
    raise TimeoutError(f"no COPY like {pattern!r} on {dbname} within {timeout:.0f} s")
