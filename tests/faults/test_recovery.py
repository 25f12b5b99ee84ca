"""Recovery under a real scheduler (LocalExecutor): an Airflow without the copy pool, and a target or source
server restarted mid-COPY.

A missing pool: the lanes sit `scheduled` (Airflow says so only in the scheduler's log); pgferry's watch_lanes
fails within Param lane_start_timeout_s naming the pool and the command that creates it. Once the pool exists
the waiting lanes start and load; the run ends failed (watch_lanes failed), so it is never mistaken for a
clean one. A target restarted with `pg_ctl stop -m immediate` mid-COPY, or a source with `pg_ctl restart -m fast`
while lanes read it: the lanes fail on the lost connection and their retries (exponential backoff from 10 s)
finish the run with an identical target.
"""
from __future__ import annotations

import re
import time

import pytest

from include.pgferry.checks.airflow import COPY_POOL
from tests.faults.conftest import DAG_ID, SCHEMA, fingerprints
from tests.support.fault_harness import COPY_IN, COPY_OUT, wait_for_copy
from tests.support.leaks import api_places_holding, files_holding

pytestmark = [pytest.mark.faults, pytest.mark.integration]

LANE_START_S = 20          # Param lane_start_timeout_s (default 900 s)
WATCH_BOUND = 150          # trigger -> watch_lanes failed: precheck, structure, plan, then the 20 s
START_BOUND = 180
RUN_BOUND = 300


def conf(target_conn: str, **more) -> dict:
    return {"source_conn_id": "faults_source", "target_conn_id": target_conn, "objects": [SCHEMA],
            "parallelism": 2, **more}


def test_a_missing_pool_fails_the_run_naming_the_pool_and_the_command(local_airflow, pg_source, pg_target,
                                                                     faults_source, source_fingerprints, target):
    api = local_airflow.api
    api.postgres_connection("faults_source", "127.0.0.1", pg_source.port, faults_source)
    api.postgres_connection("rec_target_pool", "127.0.0.1", pg_target.port, target)
    slots = api.pools()[COPY_POOL]["slots"]
    api.delete_pool(COPY_POOL)
    try:
        started = time.monotonic()
        run_id = api.trigger(DAG_ID, conf("rec_target_pool", lane_start_timeout_s=LANE_START_S))
        api.wait_for_task_state(DAG_ID, run_id, "watch_lanes", "failed", WATCH_BOUND)
        failed_after = time.monotonic() - started
        lanes = {t["state"] for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "copy_lane"}
        assert lanes == {"scheduled"}, api.states(DAG_ID, run_id)
        watch = next(t for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "watch_lanes")
        log = api.task_log(DAG_ID, run_id, "watch_lanes", -1, watch["try_number"])
        waited = re.search(r"of this run started within (\d+) s of being ready", log)
        assert waited and int(waited.group(1)) >= LANE_START_S, log[-3000:]
        assert f"pool '{COPY_POOL}' does not exist or has no free slot" in log
        assert f"airflow pools set {COPY_POOL} 4" in log
    finally:
        api.set_pool(COPY_POOL, slots)
    run = api.wait_for_run(DAG_ID, run_id, RUN_BOUND)
    states = api.states(DAG_ID, run_id)
    assert run["state"] == "failed" and states["watch_lanes"] == "failed", states
    assert {s for k, s in states.items() if k.startswith("copy_lane")} == {"success"}, states
    assert fingerprints(pg_target, target) == source_fingerprints
    print(f"missing pool: watch_lanes failed {failed_after:.0f} s after the trigger "
          f"(lane_start_timeout_s {LANE_START_S}); with the pool back the lanes loaded")


def finishes_after_a_restart_mid_copy(api, run_id: str, server, dbname: str, pattern: str, restart) -> float:
    """Once a lane's COPY is under way on `server` (`pattern`: COPY_IN on the target, COPY_OUT on the source),
    `restart()` it; the run must end success with a lane retried. Returns seconds from the restart to the end."""
    wait_for_copy(server, dbname, START_BOUND, poll=0.05, pattern=pattern)
    restart()
    restarted_at = time.monotonic()
    run = api.wait_for_run(DAG_ID, run_id, RUN_BOUND)
    states = api.states(DAG_ID, run_id)
    assert run["state"] == "success", states
    lanes = [t for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "copy_lane"]
    assert any(t["try_number"] > 1 for t in lanes), lanes
    return time.monotonic() - restarted_at


def restart_immediately(cluster):
    cluster.stop()                   # immediate: every session dies mid-COPY, nothing is committed
    time.sleep(3)
    cluster.start()


def test_a_target_restarted_mid_copy_is_retried_to_an_identical_target(local_airflow, pg_source, pg_target,
                                                                      faults_source, source_fingerprints, target):
    api = local_airflow.api
    api.postgres_connection("faults_source", "127.0.0.1", pg_source.port, faults_source)
    api.postgres_connection("rec_target_restart", "127.0.0.1", pg_target.port, target)
    run_id = api.trigger(DAG_ID, conf("rec_target_restart"))
    took = finishes_after_a_restart_mid_copy(api, run_id, pg_target, target, COPY_IN,
                                             lambda: restart_immediately(pg_target))
    assert fingerprints(pg_target, target) == source_fingerprints
    print(f"target restarted mid-COPY: run finished {took:.0f} s after the restart")


def test_a_source_restarted_mid_copy_is_retried_to_an_identical_target(local_airflow, pg_source, pg_target,
                                                                      faults_source, source_fingerprints, target):
    """`pg_ctl restart -m fast` of the source while lanes read from it: their sessions end (57P01), the lanes
    fail and are retried. A fast shutdown keeps the statistics, so validate's write counters still compare."""
    api = local_airflow.api
    api.postgres_connection("faults_source", "127.0.0.1", pg_source.port, faults_source)
    api.postgres_connection("rec_target_src_restart", "127.0.0.1", pg_target.port, target)
    run_id = api.trigger(DAG_ID, conf("rec_target_src_restart"))
    took = finishes_after_a_restart_mid_copy(api, run_id, pg_source, faults_source, COPY_OUT,
                                             lambda: pg_source.restart("fast"))
    assert fingerprints(pg_target, target) == source_fingerprints
    print(f"source restarted mid-COPY: run finished {took:.0f} s after the restart")


SECRET = "pgferry-Fault-Secret-0815"


def test_a_failed_run_leaves_the_password_in_no_log_xcom_or_rendered_field(local_airflow, pg_source, faults_source):
    """Under the real scheduler: a run that fails (its target unreachable) with passwords on both connections;
    no task log on disk, XCom, rendered field or the run itself holds the password."""
    api = local_airflow.api
    api.put_connection("sec_source", conn_type="postgres", host="127.0.0.1", port=pg_source.port,
                       schema=faults_source, login="postgres", password=SECRET)
    api.put_connection("sec_target", conn_type="postgres", host="127.0.0.1", port=1, schema="nowhere",
                       login="postgres", password=SECRET)
    run_id = api.trigger(DAG_ID, {**conf("sec_target"), "source_conn_id": "sec_source"})
    run = api.wait_for_run(DAG_ID, run_id, RUN_BOUND)
    assert run["state"] == "failed"
    precheck = next(t for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "precheck")
    assert precheck["state"] == "failed" and precheck["try_number"] == 1       # a refusal is not retried
    log = api.task_log(DAG_ID, run_id, "precheck", -1, 1)
    assert "cannot connect to the target" in log and "not retried" in log, log[-3000:]
    on_disk = files_holding(SECRET, local_airflow.home / "logs")
    assert on_disk.found == [] and on_disk.searched["file"] > 0, on_disk
    in_api = api_places_holding(api, DAG_ID, run_id, SECRET)
    assert in_api.found == [] and in_api.searched["log"] > 0, in_api
