"""The Airflow side of a run: can its copy lanes start at all?

A task in a pool that does not exist, or in a pool of 0 slots, stays `scheduled` for ever: the scheduler
only writes a log line ("Tasks using non-existent pool ... will not be scheduled"), the run shows nothing.
A task cannot read pools (Airflow 3's Task SDK has no database access and the execution API has no pool
route), but it can count the task instances of its own run (`RuntimeTaskInstance.get_ti_count`). So the
watchdog task `watch_lanes` runs next to the lanes in the default pool: once the lanes are ready to run
(`scheduled`), if none of them starts within the bound, it fails with the pool's name and the command that
creates it.
"""
from __future__ import annotations

import time
from typing import Callable

COPY_POOL = "pgferry_copy"
LANE_START_S = 900             # Param lane_start_timeout_s
POKE_S = 5
# a lane that got a pool slot: queued on an executor, running, or already past that
STARTED = ["queued", "running", "success", "failed", "up_for_retry", "up_for_reschedule", "restarting",
           "deferred", "upstream_failed", "skipped", "removed"]
WAITING = ["scheduled"]


class LanesCannotStart(RuntimeError):
    pass


def create_pool_command(pool: str = COPY_POOL, slots: int = 4) -> str:
    return f'airflow pools set {pool} {slots} "pgferry COPY streams across all runs"'


def cannot_start_message(pool: str, waited_s: float, lanes: int) -> str:
    return (f"none of the {lanes} copy lane(s) of this run started within {waited_s:.0f} s of being ready: the "
            f"Airflow pool {pool!r} does not exist or has no free slot (Airflow says so only in the scheduler's "
            f"log). Create it, or give it slots, with: {create_pool_command(pool)} (or Admin > Pools in the UI); "
            f"the waiting lanes start as soon as it has a free slot. Lanes of another pgferry run holding every "
            f"slot look the same: Param lane_start_timeout_s sets how long to wait.")


def lanes_started(count: Callable[[list[str]], int], lanes: int, waited_s: float, bound_s: float = LANE_START_S,
                  pool: str = COPY_POOL) -> bool:
    """One look of the watchdog (a sensor poke): True once a lane of the run started; False to look again;
    LanesCannotStart when the lanes are ready (`scheduled`) and `waited_s` reached `bound_s` with none
    started. `count(states)` counts the run's copy lanes in those states."""
    if count(STARTED) > 0:
        return True
    if waited_s >= bound_s and count(WAITING) > 0:
        raise LanesCannotStart(cannot_start_message(pool, waited_s, lanes))
    return False
