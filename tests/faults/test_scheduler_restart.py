"""The scheduler restarted mid-run under a real scheduler (LocalExecutor), while copy lanes are in COPY.

SIGKILL: the scheduler and everything it started die at once (its executor's workers, the task supervisors and
the lanes themselves, as with a lost host); the lanes' target transactions die with their sessions, nothing of
them is committed. The new scheduler resets the dead one's tasks at its orphan check, once the dead one's
heartbeat is older than `scheduler_health_check_threshold` (30 s; checked at its start and then every 10 s
here, default 300 s), and the lanes run again as a new try. SIGTERM to the scheduler process (`kill PID`, a
container stop): Airflow's graceful stop waits for the running tasks, so the lanes finish the try they are in,
then the scheduler exits (or, when Airflow's graceful stop does not end, is SIGKILLed after 30 s, as a stop
timeout would). Either way the run ends success with an identical target.
"""
from __future__ import annotations

import signal
import time

import pytest

from tests.faults.conftest import DAG_ID, SCHEMA, fingerprints
from tests.support.fault_harness import wait_for_copy

pytestmark = [pytest.mark.faults, pytest.mark.integration]

PARALLELISM = 2
START_BOUND = 180          # trigger -> a lane in COPY
RUN_BOUND = 300            # restart -> the run finished (orphan reset or retry delay, then the re-copy)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=lambda s: signal.Signals(s).name)
def test_a_scheduler_restarted_mid_copy_finishes_the_run_with_an_identical_target(
        sig, local_airflow, pg_source, pg_target, faults_source, source_fingerprints, target):
    api = local_airflow.api
    target_conn = f"sched_target_{signal.Signals(sig).name.lower()}"
    api.postgres_connection("faults_source", "127.0.0.1", pg_source.port, faults_source)
    api.postgres_connection(target_conn, "127.0.0.1", pg_target.port, target)
    run_id = api.trigger(DAG_ID, {"source_conn_id": "faults_source", "target_conn_id": target_conn,
                                  "objects": [SCHEMA], "parallelism": PARALLELISM})
    wait_for_copy(pg_target, target, START_BOUND, poll=0.05)
    running = {t["map_index"]: t["try_number"] for t in api.task_instances(DAG_ID, run_id)
               if t["task_id"] == "copy_lane" and t["state"] == "running"}
    restart = local_airflow.restart_scheduler(sig)
    restarted_at = time.monotonic()
    run = api.wait_for_run(DAG_ID, run_id, RUN_BOUND)
    finished = time.monotonic() - restarted_at
    states = api.states(DAG_ID, run_id)
    assert run["state"] == "success", states
    lanes = {t["map_index"]: t for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "copy_lane"}
    assert {t["state"] for t in lanes.values()} == {"success"}, states
    assert running, "no copy lane running when the scheduler was stopped"
    if sig == signal.SIGKILL:
        # the lanes in COPY when the scheduler died were run again (a new try), not left for dead or counted done
        assert any(lanes[i]["try_number"] > n for i, n in running.items()), (running, lanes)
    else:
        # a graceful stop lets them finish the try they were in
        assert all(lanes[i]["try_number"] == n for i, n in running.items()), (running, lanes)
    assert fingerprints(pg_target, target) == source_fingerprints
    print(f"scheduler {signal.Signals(sig).name} mid-COPY: stopped in {restart['stopped_s']:.1f} s, new one up in "
          f"{restart['started_s']:.0f} s, run finished {finished:.0f} s after the restart; "
          f"lanes then running: {sorted(running)}, tries now {[lanes[i]['try_number'] for i in sorted(lanes)]}; "
          f"SIGKILLed after the grace: {restart['killed_after_grace']}")
