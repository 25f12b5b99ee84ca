"""Background servers run as process-group leaders and are stopped as a whole group: SIGTERM to the parent
alone orphans its children (airflow standalone's scheduler workers)."""
from __future__ import annotations

import os
import signal
import time


def group_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.killpg(pid, 0)
        return True
    except OSError:
        return False


def stop_group(pid: int | None, grace: float = 15):
    """SIGTERM the process group led by `pid`, SIGKILL what is left after `grace` seconds."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)   # reap it when it is our child, so the group can vanish
        except ChildProcessError:
            pass
        if not group_alive(pid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
