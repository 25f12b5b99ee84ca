"""The patched moto server (`python -m localstack.moto_rds`) as a background process group.

    start(port=0, log_path=None) -> MotoServer(pid, port, endpoint)
    alive(pid, port)
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from localstack import ROOT
from localstack.processes import group_alive

MODULE = "localstack.moto_rds"


@dataclass(frozen=True)
class MotoServer:
    pid: int
    port: int
    endpoint: str


def start(port: int = 0, log_path: Path | None = None, timeout: float = 60) -> MotoServer:
    """Start the server on `port` (0: a free one) in a new process group; return once it listens."""
    ready = Path(tempfile.mkdtemp(prefix="pgferry-moto-")) / "ready.json"
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen([sys.executable, "-m", MODULE, "--port", str(port), "--ready-file", str(ready)],
                                cwd=ROOT, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                    filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    finally:
        if log_path:
            log.close()
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the moto server ({MODULE}) did not start within {timeout:.0f} s"
                               + (f": see {log_path}" if log_path else ""))
        time.sleep(0.1)
    info = json.loads(ready.read_text())
    ready.unlink()
    ready.parent.rmdir()
    return MotoServer(pid=proc.pid, port=int(info["port"]), endpoint=info["endpoint"])


def alive(pid: int | None, port: int | None) -> bool:
    """Its process group exists and something answers on its port."""
    if not group_alive(pid) or not port:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
