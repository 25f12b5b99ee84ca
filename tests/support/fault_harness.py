"""Fault harness under a real scheduler: Airflow (LocalExecutor, `airflow standalone`) on a private home,
the migration triggered through the REST API, and the target observed from the server side.

    with LocalAirflow(settings={...}) as airflow:                       # ~40 s to healthy
        airflow.api.postgres_connection("t", proxy.host, proxy.port, target_db)
        run_id = airflow.api.trigger("postgres_logical_migration", conf)
        copying = wait_for_copy(pg_target, target_db, timeout=180)      # a lane is mid-COPY
        proxy.blackhole(existing_only=True)                             # ... and observe
        airflow.restart_scheduler(signal.SIGKILL)                       # or: a scheduler lost mid-run

The scheduler's recovery settings are the fleet's (localstack.fleet.RECOVERY_SETTINGS: a task that stops
heartbeating is failed in ~20 s; a dead scheduler's tasks are reset about 30 s after its death, at the next
orphan check once its heartbeat is 30 s old); `settings` overrides them.
`restart_scheduler` replaces only the scheduler: the api-server, dag-processor and triggerer of
`airflow standalone` keep running, and the new scheduler runs in its own process group with the same settings.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.support.airflow_api import AirflowApi, wait_parking_seen

# The local stack's pieces (moving into localstack/): the one place to repoint.
from localstack.fleet import METADATA_DB, RECOVERY_SETTINGS  # noqa: E402
from localstack.pgcluster import PgCluster  # noqa: E402
from localstack.ports import free_port  # noqa: E402
from localstack import ROOT, airflow_server  # noqa: E402
from localstack.processes import stop_group  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "faults"
DAG_ID = "postgres_logical_migration"
# the copy statements of a lane's sessions (include/pgferry/data/copy.py): into the target, out of the source
COPY_IN = "COPY %FROM STDIN%"
COPY_OUT = "COPY %TO STDOUT%"

class LocalAirflow:
    def __init__(self, env: dict | None = None, settings: dict | None = None, name: str = "local-airflow",
                 postgres_metadata: bool = False):
        self.name = name
        self.home = Path(tempfile.mkdtemp(prefix=f"pgferry-{name}-"))
        # PostgreSQL rather than airflow standalone's SQLite as the metadata database, as deployments run it:
        # SQLite ignores Airflow's row locks (SELECT ... FOR UPDATE), which order a human's answer against
        # the worker parking its human-in-the-loop task
        self._metadata: PgCluster | None = None
        if postgres_metadata:
            self.home.chmod(0o755)      # the cluster under it runs as the `postgres` user when we are root
            self._metadata = PgCluster(self.home / "clusters", "metadata")
        self.env = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                    **{k: v for k, v in RECOVERY_SETTINGS.items() if k.startswith("AIRFLOW__SCHEDULER__")},
                    **(settings or {}), **(env or {})}
        self.info: dict = {}
        self.api: AirflowApi | None = None
        self._scheduler: subprocess.Popen | None = None      # a scheduler restart_scheduler started

    def __enter__(self) -> "LocalAirflow":
        try:
            if self._metadata is not None:
                self._metadata.start()
                self._metadata.recreate_db(METADATA_DB)
                self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
                    f"postgresql+psycopg2://postgres@127.0.0.1:{self._metadata.port}/{METADATA_DB}")
            self.info = airflow_server.start_background(self.home, port=free_port(), env=self.env)
            self.api = AirflowApi(self.info["url"], self.info["username"], self.info["password"])
            self.api.wait_for_dag(DAG_ID)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self._scheduler is not None:
            stop_group(self._scheduler.pid)
            self._scheduler.wait(timeout=30)
        if self.info:
            airflow_server.stop(self.info["pid"])
        dest = ARTIFACTS / self.name
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        if (self.home / airflow_server.LOG_FILE).exists():
            shutil.copy(self.home / airflow_server.LOG_FILE, dest / airflow_server.LOG_FILE)
        if (self.home / "logs").exists():
            shutil.copytree(self.home / "logs", dest / "task-logs", dirs_exist_ok=True)
        if self._metadata is not None:
            self._metadata.destroy()
        shutil.rmtree(self.home, ignore_errors=True)

    # -- a human's answer -------------------------------------------------------------------------------
    def answer(self, dag_id: str, run_id: str, task_id: str, chosen: list[str], params_input: dict,
               timeout: float = 300) -> dict:
        """Answer a human-in-the-loop task through the REST API, as the UI does, once it is parked and the
        scheduler has taken in the exit of the try that parked it (airflow_api.wait_parking_seen: why)."""
        wait_parking_seen(self.api, Path(self.info["log"]), dag_id, run_id, task_id, timeout)
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails"
        return self.api.request("PATCH", path, {"chosen_options": chosen, "params_input": params_input})

    # -- one part restarted ----------------------------------------------------------------------------
    def restart_scheduler(self, sig: int = signal.SIGKILL, grace: float = 30, timeout: float = 120) -> dict:
        """Stop the scheduler with `sig` and start a new one; returns {"stopped_s", "started_s",
        "killed_after_grace": pids}.

        SIGKILL goes to the scheduler and everything it started, all at once: the LocalExecutor's workers,
        the task supervisors in them and the tasks (in their own process groups), as a lost host takes them.
        SIGTERM goes to the scheduler process alone, as `kill PID` or a container stop sends it: Airflow's
        graceful stop then waits for the running tasks and ends its own workers. That stop does not always
        end (seen 2 times in 17: every task done, one executor worker left, the scheduler waiting on it), so
        after `grace` s the scheduler's thread stacks go to its log (SIGUSR2) and what is left is SIGKILLed,
        as a service manager's stop timeout does (Kubernetes' default is 30 s). Then waits up to `timeout` s
        until the new scheduler heartbeats (a SchedulerJob newer than the old one, alive)."""
        old = self._scheduler_process()
        last_job = self._newest_scheduler_job()
        started = time.monotonic()
        tree = [old, *old.children(recursive=True)]
        for p in tree if sig == signal.SIGKILL else [old]:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        alive = _wait_gone(tree, grace)
        if alive and old in alive:
            # a stop timeout, as a service manager has: the scheduler's thread stacks into its log first
            # (Airflow's SIGUSR2 handler), then SIGKILL for whatever is left
            old.send_signal(signal.SIGUSR2)
            time.sleep(2)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        if alive:
            _wait_gone(alive, 30)
        if self._scheduler is not None:
            self._scheduler.wait(timeout=30)        # a scheduler restarted before is our child: reap it
        stopped = time.monotonic()
        ports = {"api": self.info["port"], "worker_log": self.info["worker_log_port"],
                 "trigger_log": self.info["trigger_log_port"]}
        with open(self.home / airflow_server.LOG_FILE, "ab") as log:
            self._scheduler = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), "scheduler"], cwd=ROOT,
                env=airflow_server.server_env(self.home, ports, self.env), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while (self._newest_scheduler_job(alive=True) or 0) <= (last_job or 0):
            if self._scheduler.poll() is not None:
                raise RuntimeError(f"the restarted scheduler exited with {self._scheduler.returncode}: see "
                                   f"{self.home / airflow_server.LOG_FILE}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the restarted scheduler did not heartbeat within {timeout:.0f} s")
            time.sleep(0.5)
        return {"stopped_s": stopped - started, "started_s": time.monotonic() - stopped,
                "killed_after_grace": [p.pid for p in alive]}

    def _scheduler_process(self) -> psutil.Process:
        if self._scheduler is not None:
            return psutil.Process(self._scheduler.pid)
        found = [p for p in psutil.Process(self.info["pid"]).children()
                 if p.cmdline()[-1:] == ["scheduler"]]
        if len(found) != 1:
            raise RuntimeError(f"expected one scheduler under airflow standalone, found {found}")
        return found[0]

    def _newest_scheduler_job(self, alive: bool = False) -> int | None:
        query = "/jobs?job_type=SchedulerJob&order_by=-id&limit=1" + ("&is_alive=true" if alive else "")
        jobs = self.api.get(query)["jobs"]
        return jobs[0]["id"] if jobs else None


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Until every one of `procs` has exited (a zombie counts: airflow standalone never reaps the scheduler
    it started); returns those still alive after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


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
