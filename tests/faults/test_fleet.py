"""The logical migration on a CeleryExecutor fleet: two workers, PostgreSQL metadata, a Redis broker.

One run (module fixture `held_run`) with passwords on both connections and the source behind the TCP proxy:
once a lane runs, the source is blackholed, so the lanes hold (mid-COPY, or connecting) and take every slot
of a worker until the other worker runs one too; then the source heals. Its tests: (a) the run succeeds,
copy lanes ran on both workers (the hostname of each task instance while held), the target is identical;
(b) the password is in no log file of any part or task, no XCom, rendered field, task log or process command
line. Then a worker is SIGKILLed mid-COPY: it costs one heartbeat timeout plus the retry delay, not the run.
Needs requirements-fleet.txt (make fleet-deps).
"""
from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass

import pytest

from tests.faults.conftest import DAG_ID, SCHEMA, fingerprints
from tests.support.leaks import CommandLineWatch, api_places_holding, files_holding
from tests.support.migration import unique_db
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.fleet, pytest.mark.faults, pytest.mark.integration]

PARALLELISM = 4          # four lanes over two workers of two slots each
RUN_BOUND = 240          # a clean run takes about a minute on two shared cores
HOLD_BOUND = 90          # blackhole -> a lane running on each worker (the source's no-progress bound is 120 s)
RECOVERY_BOUND = 360     # + heartbeat timeout (20 s in the fleet), detection, the retry delay, the re-copy
SECRET = "pgferry-Fleet-Secret-2718"
STUCK_IN_QUEUED = "stuck in queued reschedule"   # Airflow's event when task_queued_timeout hands a task back


def conf(source_conn: str, target_conn: str) -> dict:
    return {"source_conn_id": source_conn, "target_conn_id": target_conn, "objects": [SCHEMA],
            "parallelism": PARALLELISM}


def lanes(api, run_id: str) -> list[dict]:
    return [t for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "copy_lane"]


def lane_hosts_while_held(api, run_id: str, hostnames: set[str], bound: float) -> set[str]:
    """Hostnames of running copy lanes, gathered until every one of `hostnames` has run one (or `bound`)."""
    seen: set[str] = set()
    deadline = time.monotonic() + bound
    while not hostnames <= seen and time.monotonic() < deadline:
        seen |= {t["hostname"] for t in lanes(api, run_id) if t["state"] == "running" and t["hostname"]}
        time.sleep(0.5)
    return seen


@dataclass
class HeldRun:
    run_id: str
    run: dict
    target: str
    hosts_while_held: set
    held_s: float
    took_s: float
    watch: CommandLineWatch


@pytest.fixture(scope="module")
def held_run(fleet, pg_source, pg_target, faults_source, source_fingerprints):
    """The run both placement and secrets tests read (each can run alone: whichever comes first makes it)."""
    f, api = fleet
    assert all(f.alive().values()), f"a part of the fleet is down before the held run: {f.alive()}"
    target = unique_db("tgt")
    pg_target.recreate_db(target)
    workers = {w["hostname"] for w in f.workers}
    with TcpProxy(pg_source.port) as source_path, \
            CommandLineWatch([p.pid for p in f.processes.values()], SECRET) as watch:
        api.put_connection("fleet_source_held", conn_type="postgres", host=source_path.host, port=source_path.port,
                           schema=faults_source, login="postgres", password=SECRET)
        api.put_connection("fleet_target_held", conn_type="postgres", host="127.0.0.1", port=pg_target.port,
                           schema=target, login="postgres", password=SECRET)
        started = time.monotonic()
        run_id = api.trigger(DAG_ID, conf("fleet_source_held", "fleet_target_held"))
        api.wait_for_task_state(DAG_ID, run_id, "copy_lane", "running", RUN_BOUND)
        source_path.blackhole()                 # new flows too: a lane that starts now waits as well
        held_at = time.monotonic()
        try:
            hosts = lane_hosts_while_held(api, run_id, workers, HOLD_BOUND)
        finally:
            source_path.heal()
        held = time.monotonic() - held_at
        run = api.wait_for_run(DAG_ID, run_id, RUN_BOUND)
        took = time.monotonic() - started
    try:
        yield HeldRun(run_id, run, target, hosts, held, took, watch)
    finally:
        pg_target.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def test_lanes_run_on_both_workers_and_the_target_is_identical(fleet, held_run, pg_target, source_fingerprints):
    f, api = fleet
    states = api.states(DAG_ID, held_run.run_id)
    assert held_run.run["state"] == "success", states
    copy_lanes = lanes(api, held_run.run_id)
    assert len(copy_lanes) == PARALLELISM and {t["state"] for t in copy_lanes} == {"success"}, states
    assert held_run.hosts_while_held == {w["hostname"] for w in f.workers}, \
        f"copy lanes ran on {held_run.hosts_while_held} only within {HOLD_BOUND} s"
    assert fingerprints(pg_target, held_run.target) == source_fingerprints
    print(f"fleet run: {held_run.took_s:.0f} s, lanes held {held_run.held_s:.1f} s until both workers ran one "
          f"({sorted(held_run.hosts_while_held)}); final hosts {sorted({t['hostname'] for t in copy_lanes})}")


def test_a_fleet_run_leaves_the_password_in_no_log_xcom_rendered_field_or_command_line(fleet, held_run):
    """Every file the fleet wrote (component logs, each worker's task logs, the metadata cluster's log; not its
    data files), the run through the REST API (task instances with rendered fields, every attempt's log,
    every XCom value), and the command line of every process of the fleet sampled through the run."""
    f, api = fleet
    assert held_run.run["state"] == "success"
    on_disk = files_holding(SECRET, f.root, skip=(f.metadata.datadir, f.root / "redis"))
    task_logs = files_holding(SECRET, *(f.root / w["name"] / "logs" for w in f.workers))
    assert on_disk.found == [] and task_logs.searched["file"] >= PARALLELISM, (on_disk, task_logs)
    in_api = api_places_holding(api, DAG_ID, held_run.run_id, SECRET)
    assert in_api.found == [], in_api.found
    assert in_api.searched["xcom"] > 0 and in_api.searched["log"] > 0, in_api.searched
    watch = held_run.watch
    assert watch.holding == [], watch.holding
    lane_ids = {t["id"] for t in lanes(api, held_run.run_id)}
    assert any(i in title for title in watch.titles for i in lane_ids), \
        f"no copy lane's process among the {len(watch.titles)} command lines watched"
    print(f"secrets: {on_disk.searched['file']} files, {dict(in_api.searched)} through the API, "
          f"{len(watch.titles)} distinct command lines in {watch.samples} samples "
          f"(pg_dump seen: {any('pg_dump' in t for t in watch.titles)}): no password")


def event_log(api, run_id: str, event: str) -> list[dict]:
    q = urllib.parse.urlencode({"dag_id": DAG_ID, "run_id": run_id, "event": event, "limit": 100})
    return api.get(f"/eventLogs?{q}")["event_logs"]


def test_a_worker_killed_mid_copy_costs_a_heartbeat_timeout_not_the_run(fleet, pg_source, pg_target,
                                                                       faults_source, source_fingerprints, target):
    f, api = fleet
    with TcpProxy(pg_source.port) as source_path:
        # the source through a proxy, so that the lanes can be held mid-COPY while a worker is killed
        api.postgres_connection("fleet_source_proxied", source_path.host, source_path.port, faults_source)
        api.postgres_connection("fleet_target_kill", "127.0.0.1", pg_target.port, target)
        started = time.monotonic()
        run_id = api.trigger(DAG_ID, conf("fleet_source_proxied", "fleet_target_kill"))
        api.wait_for_task_state(DAG_ID, run_id, "copy_lane", "running", RUN_BOUND)
        source_path.blackhole()                        # every lane that reads the source now waits
        try:
            running = [t for t in lanes(api, run_id) if t["state"] == "running" and t["hostname"]]
            assert running, "no copy lane running with a hostname"
            victim = f.kill_worker(running[0]["hostname"])
            killed_at = time.monotonic()
            # what the kill took with it: every task instance still running on that worker; and every one
            # still queued, which the killed worker may have taken from Redis without starting it (it then
            # never heartbeats: only [scheduler] task_queued_timeout hands it back)
            at_kill = api.task_instances(DAG_ID, run_id)
            victims = {(t["task_id"], t["map_index"]): t["try_number"] for t in at_kill
                       if t["state"] == "running" and t["hostname"] == victim["hostname"]}
            queued = {(t["task_id"], t["map_index"]) for t in at_kill if t["state"] == "queued"}
        finally:
            source_path.heal()
        assert any(task_id == "copy_lane" for task_id, _ in victims), victims
        run = api.wait_for_run(DAG_ID, run_id, RECOVERY_BOUND)
        took, recovered = time.monotonic() - started, time.monotonic() - killed_at
    states = api.states(DAG_ID, run_id)
    assert run["state"] == "success", states
    survivor = next(w["hostname"] for w in f.workers if w["hostname"] != victim["hostname"])
    after = {(t["task_id"], t["map_index"]): t for t in api.task_instances(DAG_ID, run_id)}
    for key, try_number in victims.items():
        ti = after[key]
        assert ti["state"] == "success" and ti["try_number"] > try_number, ti
        assert ti["hostname"] == survivor, ti
    for key in queued:
        assert after[key]["state"] == "success" and after[key]["hostname"] == survivor, after[key]
    # when the killed worker had taken a queued task, the queued timeout handed it back and it ran on the
    # survivor; it is never failed for it ("stuck in queued tries exceeded")
    handed_back = {(e["task_id"], e["map_index"]) for e in event_log(api, run_id, STUCK_IN_QUEUED)}
    for key in handed_back:
        assert after[key]["state"] == "success" and after[key]["hostname"] == survivor, after[key]
    assert event_log(api, run_id, "stuck in queued tries exceeded") == []
    assert fingerprints(pg_target, target) == source_fingerprints
    print(f"fleet run with a worker killed: {took:.0f} s ({recovered:.0f} s from the kill), "
          f"{len(victims)} task(s) retried on {survivor}; queued at the kill: {sorted(queued)}, "
          f"handed back by task_queued_timeout: {sorted(handed_back)}")
