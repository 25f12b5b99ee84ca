"""A CeleryExecutor fleet on one machine, on free ports: what a production Airflow looks like, small.

    fleet = start_fleet(root, env={"AIRFLOW_CONN_...": ...})   # about a minute
    fleet.url, fleet.username, fleet.password, fleet.workers     # each worker: name, hostname, dir, pid
    fleet.kill_worker("worker1")                                 # SIGKILL its whole process group
    fleet.stop()                                                 # every process group, then the clusters

Parts, each its own process group: a PostgreSQL metadata database (a throwaway cluster), a Redis broker
(its own redis-server on a free port with its own directory, never the machine's Redis), the api-server,
scheduler, dag-processor and triggerer, and N celery workers, each with its own working directory, TMPDIR,
AIRFLOW_HOME (logs under it) and hostname. Task instances record that hostname (`[core] hostname_callable`
is `localstack.fleet.worker_hostname`), so a test can tell which worker ran what.

Needs requirements-fleet.txt (`make fleet-deps`). `make fleet` starts one by hand (python -m localstack.fleet).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# The local stack's pieces this module builds on. They are moving into localstack/ (pgcluster, airflow_server,
# settings); this is the one place to repoint.
from localstack.pgcluster import PgCluster  # noqa: E402
from localstack.ports import free_port  # noqa: E402
from localstack import airflow_server  # noqa: E402
from localstack.settings import import_settings, read_settings  # noqa: E402

HOSTNAME_ENV = "PGFERRY_FLEET_HOSTNAME"
METADATA_DB = "airflow"
REDIS_SERVER = os.environ.get("PGFERRY_REDIS_SERVER", "redis-server")

# What makes a lost worker cost seconds instead of minutes (docs/operations.md, "The operator's Airflow
# settings"): a task whose supervisor stops heartbeating is failed (and retried) after the heartbeat timeout;
# the supervisor heartbeats every [workers] min_heartbeat_interval (5 s), so a timeout of a few intervals is safe.
RECOVERY_SETTINGS = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    # a worker takes one task per free process: none waits behind a long lane on a busy worker
    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    # the message is acknowledged when the task ends, so a broker holds it while the task runs ...
    "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
    # ... and redelivers it only after this: it must exceed the longest task (a redelivered running task is
    # refused by the execution API, but costs a slot). Recovery comes from the heartbeat timeout, not this.
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
    # A task the lost worker had taken from the broker but not yet started is still "queued" in Airflow: it
    # never heartbeats, and its unacknowledged message waits out the visibility timeout. Only the queued
    # timeout hands it back to the scheduler (seen: a lane queued for 6 minutes after the kill, default 600 s).
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",
    # A scheduler that died (SIGKILL, lost host) leaves its tasks "running" or "queued" under its job, and only
    # another scheduler's orphan check resets them: at its start, and then every this many seconds (default
    # 300), once the dead one's heartbeat is older than [scheduler] scheduler_health_check_threshold (30 s).
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
}


def worker_hostname() -> str:
    """`[core] hostname_callable` of the fleet's workers: the name the fleet gave this worker."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


@dataclass
class Fleet:
    root: Path
    url: str
    username: str
    password: str = field(repr=False)
    metadata: PgCluster
    redis_port: int
    env: dict = field(repr=False)
    processes: dict = field(default_factory=dict)     # name -> Popen, each the leader of its process group
    workers: list = field(default_factory=list)       # {name, hostname, dir, pid}

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def worker(self, hostname: str) -> dict:
        for w in self.workers:
            if hostname in (w["hostname"], w["name"]):
                return w
        raise KeyError(f"no fleet worker {hostname!r} (have {[w['hostname'] for w in self.workers]})")

    def kill_worker(self, hostname: str, sig: int = signal.SIGKILL) -> dict:
        """Kill a worker's whole process group (celery, its pool, the task supervisors and tasks): a lost
        machine. The worker stays down."""
        w = self.worker(hostname)
        try:
            os.killpg(w["pid"], sig)
        except ProcessLookupError:
            pass
        proc = self.processes[w["name"]]
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"worker {w['name']} (pid {w['pid']}) still alive 30 s after signal {sig}")
        return w

    def alive(self) -> dict[str, bool]:
        return {name: p.poll() is None for name, p in self.processes.items()}

    def stop(self, grace: float = 15):
        """Workers first (so no task is left half-run by a vanished scheduler), then the Airflow parts, then
        the broker, then the metadata database. Each step signals every process group at once (SIGTERM,
        SIGKILL after `grace`)."""
        steps = [[w["name"] for w in self.workers], ["scheduler", "triggerer", "dag-processor", "api-server"],
                 ["redis"]]
        for names in steps:
            _stop_groups([self.processes[n] for n in names if n in self.processes], grace)
        self.metadata.destroy()


def _stop_groups(procs: list[subprocess.Popen], grace: float):
    """SIGTERM the process groups led by `procs`, reap them, SIGKILL what is left after `grace` seconds."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        live = [p for p in live if p.poll() is None or _group_alive(p.pid)]
        time.sleep(0.2)
    for p in live:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _spawn(fleet: Fleet, name: str, cmd: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    fleet.log(name).parent.mkdir(parents=True, exist_ok=True)
    with open(fleet.log(name), "ab") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    fleet.processes[name] = proc
    return proc


def _wait(what: str, check, timeout: float, procs: list[subprocess.Popen] = ()):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: process {p.args[:3]} exited with {p.returncode}")
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001 - any failure of the probe means "not yet"
            last = e
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s (last error: {last})")


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


def start_fleet(root: Path, env: dict | None = None, workers: int = 2, worker_concurrency: int = 2,
                settings: dict | None = None, timeout: float = 300) -> Fleet:
    """Start everything under `root` (a fresh directory) on free ports; `env` adds variables to every
    process (AIRFLOW_CONN_* connections, settings); `settings` replaces RECOVERY_SETTINGS entries."""
    if shutil.which(REDIS_SERVER) is None:
        raise RuntimeError(f"{REDIS_SERVER} not found: install Debian's redis-server (make fleet-deps does)")
    try:
        import airflow.providers.celery  # noqa: F401
    except ImportError as e:
        raise RuntimeError("the celery provider is not installed: make fleet-deps "
                           "(installs requirements-fleet.txt)") from e
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)   # the metadata cluster under it runs as the `postgres` user when we are root
    home = root / "airflow"
    home.mkdir(exist_ok=True)

    metadata = PgCluster(root / "clusters", "metadata").start()
    try:
        metadata.recreate_db(METADATA_DB)
        ports = {"api": free_port(), "worker_log": free_port(), "trigger_log": free_port()}
        redis_port = free_port()
        password = airflow_server.admin_password(home)
        base = airflow_server.server_env(home, ports, {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                f"postgresql+psycopg2://postgres@127.0.0.1:{metadata.port}/{METADATA_DB}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:{metadata.port}/{METADATA_DB}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
            # the same secrets in every process: the scheduler signs the task tokens the api-server checks
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            **RECOVERY_SETTINGS, **(settings or {}), **(env or {}),
        })
        fleet = Fleet(root=root, url=f"http://127.0.0.1:{ports['api']}", username=airflow_server.USERNAME,
                      password=password, metadata=metadata, redis_port=redis_port, env=base)
    except BaseException:
        metadata.destroy()
        raise
    try:
        redis_dir = root / "redis"
        redis_dir.mkdir(exist_ok=True)
        redis = _spawn(fleet, "redis", [REDIS_SERVER, "--port", str(redis_port), "--bind", "127.0.0.1",
                                        "--dir", str(redis_dir), "--save", "", "--appendonly", "no",
                                        "--protected-mode", "yes"], base, redis_dir)
        _wait("redis", lambda: _redis_ping(redis_port), 30, [redis])

        migrate = subprocess.run([_airflow(), "db", "migrate"], env=base, cwd=home, capture_output=True,
                                 text=True, timeout=timeout)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed: {migrate.stderr.strip()[-2000:]}")

        parts = []
        for name, cmd in (("api-server", ["api-server"]), ("scheduler", ["scheduler"]),
                          ("dag-processor", ["dag-processor"]), ("triggerer", ["triggerer"])):
            parts.append(_spawn(fleet, name, [_airflow(), *cmd], base, home))
        for i in range(1, workers + 1):
            name = f"worker{i}"
            wdir = root / name
            (wdir / "tmp").mkdir(parents=True, exist_ok=True)
            hostname = f"fleet-{name}"
            wenv = {**base, "AIRFLOW_HOME": str(wdir), "TMPDIR": str(wdir / "tmp"), HOSTNAME_ENV: hostname,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "localstack.fleet.worker_hostname",
                    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(wdir / "logs"),
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            proc = _spawn(fleet, name, [_airflow(), "celery", "worker", "--celery-hostname", f"{name}@fleet",
                                        "--concurrency", str(worker_concurrency), "--pid", str(wdir / "worker.pid"),
                                        "--without-gossip", "--without-mingle"], wenv, wdir)
            fleet.workers.append({"name": name, "hostname": hostname, "dir": str(wdir), "pid": proc.pid})
            parts.append(proc)

        airflow_server.wait_healthy(fleet.url, timeout)
        for p in parts:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[1:3]} exited with {p.returncode}: see {root / 'logs'}")
        _wait("celery workers", lambda: _workers_ready(fleet), 120, parts)
        # the DAGs' pools: a task in a missing pool is never scheduled
        import_settings({**read_settings(), "connections": {}, "variables": {}}, env=base)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def _workers_ready(fleet: Fleet) -> bool:
    """Every worker has said `ready` in its log (celery's own start-up line)."""
    return all("ready." in fleet.log(w["name"]).read_text(errors="replace") for w in fleet.workers)


def _fernet_key() -> str:
    import base64
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def serve(root: Path):
    """`make fleet`: start a fleet under `root` with the local stack's settings, print it, wait for Ctrl-C."""
    fleet = start_fleet(root)
    print(f"fleet ready: {fleet.url}  (log in as {fleet.username} / {fleet.password})")
    print(json.dumps({"root": str(root), "metadata_port": fleet.metadata.port, "redis_port": fleet.redis_port,
                      "workers": fleet.workers}, indent=2))
    print("Ctrl-C stops every part")
    try:
        while all(fleet.alive().values()):
            time.sleep(2)
        print(f"a part of the fleet exited: {fleet.alive()}; stopping")
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()


if __name__ == "__main__":
    serve(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".stack") / "fleet")
