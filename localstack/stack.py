"""The local stack under .stack/: source and target PostgreSQL clusters, a moto server standing in for
the AWS API, and a private Airflow home with airflow_settings.yaml loaded.

    .stack/stack.json    the state: ports, moto and Airflow process-group ids
    .stack/pg/           the two clusters (source, target) and their logs
    .stack/moto.log      the moto server's log
    .stack/airflow/      the Airflow home (SQLite metadata DB, logs, admin password file)

`python -m tools.stack start|stop|status|airflow` is the command line over this module.
"""
from __future__ import annotations

import json
from pathlib import Path

from localstack import ROOT, airflow_env, airflow_server, moto_server
from localstack.pgcluster import PgCluster
from localstack.ports import free_port, port_free
from localstack.processes import group_alive, stop_group
from localstack.settings import import_settings, read_settings

STACK = ROOT / ".stack"
STATE = STACK / "stack.json"
DEFAULT_PORTS = {"source": 54329, "target": 54330, "moto": 5055}


def choose_port(name: str, state: dict) -> int:
    """The port the state already holds, else the usual one when free, else a free one."""
    if state.get(f"{name}_port"):
        return state[f"{name}_port"]
    preferred = DEFAULT_PORTS[name]
    if port_free(preferred):
        return preferred
    port = free_port()
    print(f"port {preferred} is taken: the {name} uses {port} instead")
    return port


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(state: dict):
    STACK.mkdir(exist_ok=True)
    STATE.write_text(json.dumps(state, indent=2))


def airflow_home() -> Path:
    return STACK / "airflow"


def configure_airflow() -> dict:
    """Point this process (and children) at the stack's Airflow home."""
    return airflow_env.configure(airflow_home())


def clusters(state: dict) -> tuple[PgCluster, PgCluster]:
    return (PgCluster(STACK / "pg", "source", port=state["source_port"]),
            PgCluster(STACK / "pg", "target", port=state["target_port"]))


def moto_alive(state: dict) -> bool:
    return moto_server.alive(state.get("moto_pid"), state.get("moto_port"))


def start_moto(state: dict):
    if moto_alive(state):
        return
    STACK.mkdir(exist_ok=True)
    server = moto_server.start(state["moto_port"], log_path=STACK / "moto.log")
    state["moto_pid"] = server.pid


def settings_overrides(state: dict) -> dict:
    """What airflow_settings.yaml cannot know: the ports this stack's servers listen on."""
    return {"pgferry_source": {"port": state["source_port"]},
            "pgferry_target": {"port": state["target_port"]},
            "aws_moto": {"endpoint_url": f"http://127.0.0.1:{state['moto_port']}"}}


def start() -> dict:
    """Clusters, moto and the Airflow home (migrated, settings loaded); running parts are reused."""
    state = load_state()
    for name in ("source", "target", "moto"):
        state[f"{name}_port"] = choose_port(name, state)
    save_state(state)
    src, tgt = clusters(state)
    src.start()
    tgt.start()
    start_moto(state)
    save_state(state)
    configure_airflow()
    airflow_env.migrate_db(airflow_home())
    import_settings(read_settings(overrides=settings_overrides(state)))
    return state


def stop():
    state = load_state()
    if not state:
        print("nothing is running (no .stack/stack.json)")
        return
    stop_group(state.pop("airflow_pid", None))
    stop_group(state.pop("moto_pid", None))
    for c in clusters(state):
        c.stop()
    save_state(state)
    print("local stack stopped (data kept in .stack/; `make clean` removes it)")


def status():
    state = load_state()
    if not state:
        print("not started")
        return
    src, tgt = clusters(state)
    print(f"source PostgreSQL 127.0.0.1:{state['source_port']}: {'running' if src.running() else 'stopped'}")
    print(f"target PostgreSQL 127.0.0.1:{state['target_port']}: {'running' if tgt.running() else 'stopped'}")
    print(f"moto (AWS API)    http://127.0.0.1:{state['moto_port']}: {'running' if moto_alive(state) else 'stopped'}")
    if state.get("airflow_port"):
        airflow = "running" if group_alive(state.get("airflow_pid")) else "stopped"
        print(f"airflow           http://127.0.0.1:{state['airflow_port']}: {airflow}")


def serve_airflow() -> dict:
    """`make airflow`: start (or find running) the stack's Airflow, print how to reach it, return."""
    state = load_state()
    if group_alive(state.get("airflow_pid")) and state.get("airflow_port"):
        url = f"http://127.0.0.1:{state['airflow_port']}"
        try:
            airflow_server.wait_healthy(url, timeout=5)
            _print_banner(url, airflow_server.admin_password(airflow_home()), already=True)
            return {"pid": state["airflow_pid"], "port": state["airflow_port"], "url": url}
        except TimeoutError:
            stop_group(state["airflow_pid"])
    print("starting Airflow (api-server, scheduler, dag-processor, triggerer) ... about a minute")
    info = airflow_server.start_background(airflow_home())
    state = load_state()
    state["airflow_pid"], state["airflow_port"] = info["pid"], info["port"]
    save_state(state)
    _print_banner(info["url"], info["password"], log=info["log"])
    return {k: v for k, v in info.items() if k != "password"}


def _print_banner(url: str, password: str, already: bool = False, log: str | None = None):
    print(("Airflow is already running" if already else "Airflow is ready") + f": {url}")
    print(f"  log in as {airflow_server.USERNAME} / {password}  (kept in .stack/airflow/{airflow_server.PASSWORDS_FILE})")
    if log:
        print(f"  server log: {log}")
    print("  stop it (and the rest of the local stack) with: make stop")
