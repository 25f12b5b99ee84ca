"""The local stack under .stack/: source and target PostgreSQL clusters, a moto server standing in for
the AWS API, and a private Airflow home with airflow_settings.yaml loaded.

    python -m tools.stack start | stop | status | env
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / ".stack"
STATE = STACK / "stack.json"
DEFAULT_PORTS = {"source": 54329, "target": 54330, "moto": 5055}


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _choose_port(name: str, state: dict) -> int:
    if state.get(f"{name}_port"):
        return state[f"{name}_port"]
    preferred = DEFAULT_PORTS[name]
    if _port_free(preferred):
        return preferred
    from tests.support.pgcluster import free_port
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
    from tests.support import airflow_env
    return airflow_env.configure(airflow_home())


def clusters(state: dict):
    from tests.support.pgcluster import PgCluster
    return (PgCluster(STACK / "pg", "source", port=state["source_port"]),
            PgCluster(STACK / "pg", "target", port=state["target_port"]))


def _moto_alive(state: dict) -> bool:
    pid = state.get("moto_pid")
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with socket.create_connection(("127.0.0.1", state["moto_port"]), timeout=1):
            return True
    except OSError:
        return False


def start_moto(state: dict):
    if _moto_alive(state):
        return
    ready = STACK / "moto.ready"
    ready.unlink(missing_ok=True)
    log = open(STACK / "moto.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "localstack.moto_rds", "--port", str(state["moto_port"]),
                             "--ready-file", str(ready)], cwd=ROOT, stdout=log, stderr=log,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 60
    while not ready.exists():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"the moto server did not start: see {STACK / 'moto.log'}")
        time.sleep(0.2)
    state["moto_pid"] = proc.pid


def settings_overrides(state: dict) -> dict:
    return {"pgferry_source": {"port": state["source_port"]},
            "pgferry_target": {"port": state["target_port"]},
            "aws_moto": {"endpoint_url": f"http://127.0.0.1:{state['moto_port']}"}}


def start() -> dict:
    state = load_state()
    for name in ("source", "target", "moto"):
        state[f"{name}_port"] = _choose_port(name, state)
    save_state(state)
    src, tgt = clusters(state)
    src.start()
    tgt.start()
    start_moto(state)
    save_state(state)
    configure_airflow()
    from tests.support import airflow_env
    from tools.settings import import_settings, read_settings
    airflow_env.migrate_db(airflow_home())
    import_settings(read_settings(overrides=settings_overrides(state)))
    return state


def stop():
    state = load_state()
    if not state:
        print("nothing is running (no .stack/stack.json)")
        return
    from tools.airflow_server import stop as stop_process_group
    stop_process_group(state.pop("airflow_pid", None))
    stop_process_group(state.pop("moto_pid", None))
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
    print(f"moto (AWS API)    http://127.0.0.1:{state['moto_port']}: {'running' if _moto_alive(state) else 'stopped'}")
    if state.get("airflow_port"):
        print(f"airflow           http://127.0.0.1:{state['airflow_port']}")


def main(argv=None):
    cmd = (argv or sys.argv[1:] or ["status"])[0]
    if cmd == "start":
        state = start()
        status()
        return state
    if cmd == "stop":
        return stop()
    if cmd == "status":
        return status()
    if cmd == "airflow":
        from tools.airflow_server import serve
        start()
        return serve()
    raise SystemExit(f"usage: python -m tools.stack start|stop|status|airflow (got {cmd!r})")


if __name__ == "__main__":
    main()
