"""postgres_online_migration's failure paths under a real scheduler (LocalExecutor, `airflow standalone`),
one Airflow for the module, a fresh source and target database per test, a pgbench writer on the source.

1. A copy lane SIGKILLed mid-COPY (its target flows held by the TCP proxy, so it cannot finish first): the
   retry reads under the same snapshot (the holder never ended), the run cuts over, the target is identical.
2. apply_changes SIGKILLed while the writer writes: its retry skips what was committed, so after cutover
   every table is identical and every writer transaction is on the target exactly once.
3. hold_snapshot SIGKILLed during the load: its temporary slot goes with its session, the reader that next
   imports the snapshot (structure, plan_lanes or a lane) fails saying to clear online_load (not retried),
   abort removes slot and publication.
4. The target restarted (`pg_ctl restart -m fast`) while apply_changes runs: the retry ends identical.
5. The source restarted the same way once the load is done (the holder has ended): the apply fails saying it
   lost its source session, its retry goes on from the committed progress, the run ends identical.
6. No answer to the approval within approval_timeout_h: approve_cutover fails once (no retry), abort removes
   slot and publication, nothing is frozen, the source stays writable. approval_timeout_h 0 is refused.

Every writer transaction inserts one tick and adds one to a counter and to one item, so "counted once" is
plain arithmetic on the target: ticks == counter == sum of the items' counts, and the same as the source.
"""
from __future__ import annotations

import signal
import subprocess
import time

import psutil
import pytest
from psycopg import sql

from include.pgferry.pg.catalog import fetch_one
from localstack.pgcluster import pg_bindir
from tests.online.conftest import connect
from tests.support.fault_harness import LocalAirflow, wait_for_copy
from tests.support.migration import unique_db
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.dagrun, pytest.mark.faults]

DAG_ID = "postgres_online_migration"
HOLD, STRUCTURE, PLAN_LANES, COPY_LANE = ("online_load.hold_snapshot", "online_load.structure",
                                          "online_load.plan_lanes", "online_load.copy_lane")
CLEAR_LOAD = "clear the whole online_load group"
START_BOUND = 240          # trigger -> a lane in COPY / the apply applying
RETRY_BOUND = 120          # a killed task -> its next try running (retry delay 10 s)
APPROVAL_BOUND = 300       # -> approve_cutover awaiting input
RUN_BOUND = 300            # the answer (or the fault) -> the run finished
RESUME_BOUND = 60          # the answer -> approve_cutover no longer parked

# Small enough for a quick run, big enough that the one lane (parallelism 1) has several units
SOURCE_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, body text);
INSERT INTO app.items SELECT g, 0, repeat(md5(g::text), 3) FROM generate_series(1, 1000) g;
CREATE TABLE app.counter (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO app.counter VALUES (1, 0);
CREATE TABLE app.ticks (id bigserial PRIMARY KEY, item int NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE app.bulk1 (id int PRIMARY KEY, pad text);
INSERT INTO app.bulk1 SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 60000) g;
CREATE TABLE app.bulk2 (id int PRIMARY KEY, pad text);
INSERT INTO app.bulk2 SELECT g, repeat(md5((g + 1)::text), 3) FROM generate_series(1, 60000) g;
CREATE TABLE app.bulk3 (id int PRIMARY KEY, pad text);
INSERT INTO app.bulk3 SELECT g, repeat(md5((g + 2)::text), 3) FROM generate_series(1, 60000) g;
ANALYZE;
"""
WRITER = r"""
\set item random(1, 1000)
BEGIN;
INSERT INTO app.ticks (item) VALUES (:item);
UPDATE app.items SET n = n + 1 WHERE id = :item;
UPDATE app.counter SET n = n + 1 WHERE id = 1;
END;
"""
WRITER_RATE = "20"         # transactions per second: a trickle, enough to write through every phase


@pytest.fixture(scope="module")
def airflow():
    # PostgreSQL metadata: with SQLite the answer to approve_cutover was once recorded and the task left parked
    # (CI, stop 21): SQLite ignores the row locks that order the answer against the park
    with LocalAirflow(name="online-faults", postgres_metadata=True) as af:
        af.api.wait_for_dag(DAG_ID)
        yield af


@pytest.fixture
def api(airflow):
    yield airflow.api
    # a run a failed test left unfinished would hold the DAG's one active run
    airflow.api.end_unfinished_runs(DAG_ID)


@pytest.fixture
def source_db(logical_source):
    db = unique_db("ofault")
    logical_source.recreate_db(db)
    with connect(logical_source, db) as src:
        src.execute(SOURCE_SQL)
    yield db
    # a failed test may leave its run's slots: they would keep WAL and block the drop
    with connect(logical_source, "postgres") as c:
        c.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                  "WHERE database = %s AND NOT active", (db,))
    logical_source.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def start_writer(cluster, db, script, log) -> subprocess.Popen:
    return subprocess.Popen([str(pg_bindir() / "pgbench"), "-n", "-c", "1", "-j", "1", "-T", "900", "-R", WRITER_RATE,
                             "-f", str(script), "-d", cluster.dsn(db)], stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def writer(logical_source, source_db, tmp_path):
    script = tmp_path / "writer.sql"
    script.write_text(WRITER)
    log = open(tmp_path / "writer.log", "w")
    proc = start_writer(logical_source, source_db, script, log)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
    log.close()


# -- helpers ----------------------------------------------------------------------------------------------

def trigger(api, logical_source, source_db, target_host, target_port, target_db, name, **more) -> str:
    api.postgres_connection(f"{name}_source", "127.0.0.1", logical_source.port, source_db)
    api.postgres_connection(f"{name}_target", target_host, target_port, target_db)
    return api.trigger(DAG_ID, {"source_conn_id": f"{name}_source", "target_conn_id": f"{name}_target",
                                # the WAL-rate sample (10 s a run) is tested in test_precheck and test_online_dag
                                "objects": ["app"], "wal_sample_s": 0, **more})


def instance(api, run_id, task_id, map_index=-1) -> dict:
    return next(t for t in api.task_instances(DAG_ID, run_id)
                if t["task_id"] == task_id and t["map_index"] == map_index)


def wait_until(what: str, check, timeout: float, poll: float = 0.3, detail=None):
    """Poll `check` until it returns something true; `detail()` (if given) goes into the timeout's message."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s" + (f": {detail()}" if detail else ""))
        time.sleep(poll)


def kill_task(airflow, ti: dict) -> int:
    """SIGKILL the task process of `ti` (a running instance: its pid is the process the supervisor forked),
    as an OOM kill does; only a process under this module's Airflow. Returns the pid once it is gone."""
    proc = psutil.Process(ti["pid"])
    assert airflow.info["pid"] in {p.pid for p in proc.parents()}, (ti, proc.cmdline())
    proc.send_signal(signal.SIGKILL)
    gone, alive = psutil.wait_procs([proc], timeout=30)
    assert not alive, f"task process {ti['pid']} outlived SIGKILL"
    return ti["pid"]


def running_with_pid(api, run_id, task_id, map_index=-1, min_try: int = 1) -> dict:
    def look():
        t = instance(api, run_id, task_id, map_index)
        return t if t["state"] == "running" and t["pid"] and t["try_number"] >= min_try else None
    return wait_until(f"{task_id} try >= {min_try} running", look, RETRY_BOUND + START_BOUND)


def xcom(api, run_id, task_id, key="return_value"):
    try:
        return api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")["value"]
    except RuntimeError as e:
        if "HTTP 404" in str(e):
            return None
        raise


def ticks(cluster, db) -> int:
    with connect(cluster, db) as c:
        return c.execute("SELECT count(*) FROM app.ticks").fetchone()[0]


def applied_transactions(pg_target, target_db) -> int:
    """The apply's own count of committed source transactions (its progress row), 0 before it has one."""
    with connect(pg_target, target_db) as c:
        if c.execute("SELECT to_regclass('pgferry_online.apply_progress')").fetchone()[0] is None:
            return 0
        row = c.execute("SELECT transactions FROM pgferry_online.apply_progress").fetchone()
        return row[0] if row else 0


def cut_over(airflow, run_id, writer) -> dict:
    """Once the approval is asked: stop the writer (freeze_mode "stopped"), answer "Cut over", wait for the end."""
    api = airflow.api
    api.wait_for_task_state(DAG_ID, run_id, "approve_cutover", "awaiting_input", timeout=APPROVAL_BOUND, poll=1)
    assert writer.poll() is None, "the writer must still be writing when the cutover is asked"
    writer.terminate()
    writer.wait(timeout=60)
    airflow.answer(DAG_ID, run_id, "approve_cutover", ["Cut over"], {"freeze_mode": "stopped"},
                   timeout=APPROVAL_BOUND)
    # the answer resumes the parked task at once (Airflow's response handler schedules it)
    hitl = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_cutover/-1/hitlDetails"
    wait_until("approve_cutover resumed by the answer",
               lambda: instance(api, run_id, "approve_cutover")["state"] != "awaiting_input", RESUME_BOUND,
               detail=lambda: api.get(hitl))
    run = api.wait_for_run(DAG_ID, run_id, RUN_BOUND)
    states = api.states(DAG_ID, run_id)
    assert run["state"] == "success", states
    assert states["cleanup"] == "success" and states["abort"] == "skipped", states
    approval = instance(api, run_id, "approve_cutover")
    assert approval["try_number"] == 1, f"the approval was asked again: {approval}"
    return states


def fingerprints(cluster, db) -> dict:
    """Rows and an order-free content hash of every table of app."""
    with connect(cluster, db) as c:
        tables = [r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'app' ORDER BY 1")]
        return {t: c.execute(sql.SQL("SELECT count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), "
                                     "'')) FROM {} x").format(sql.Identifier("app", t))).fetchone()
                for t in tables}


def assert_identical_and_clean(logical_source, source_db, pg_target, target_db, written_before: int):
    source, target = fingerprints(logical_source, source_db), fingerprints(pg_target, target_db)
    assert len(source) == 6 and target == source
    with connect(pg_target, target_db) as tgt:
        n, counter, items = tgt.execute("SELECT (SELECT count(*) FROM app.ticks), (SELECT n FROM app.counter), "
                                        "(SELECT sum(n) FROM app.items)").fetchone()
        # every writer transaction on the target once: its tick, its counter step, its item step
        assert n == counter == items, (n, counter, items)
        assert fetch_one(tgt, "list_existing_schemas", schemas=["pgferry_online"]) is None
    assert n > written_before, "the writer wrote nothing after the fault: the test proves nothing"
    assert_source_clean(logical_source, source_db)


def assert_source_clean(logical_source, source_db):
    with connect(logical_source, source_db) as src:
        assert src.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'pgferry%'").fetchall() == []
        assert src.execute("SELECT pubname FROM pg_publication WHERE pubname LIKE 'pgferry%'").fetchall() == []


# -- the tests --------------------------------------------------------------------------------------------

def test_a_killed_copy_lane_is_retried_under_the_same_snapshot(airflow, api, logical_source, pg_target, target_db,
                                                              source_db, writer):
    with TcpProxy(pg_target.port) as proxy:
        run_id = trigger(api, logical_source, source_db, proxy.host, proxy.port, target_db, "kill_lane",
                         parallelism=1)
        written_at_trigger = ticks(logical_source, source_db)
        wait_for_copy(pg_target, target_db, START_BOUND, poll=0.05)
        # the lane's target flows stop: it cannot finish its units while we take its pid and kill it
        proxy.blackhole(existing_only=True)
        lane = running_with_pid(api, run_id, COPY_LANE, 0)
        assert lane["try_number"] == 1
        snapshot = xcom(api, run_id, HOLD, "snapshot")
        kill_task(airflow, lane)
        proxy.reset(blackholed_only=True)       # the killed try's backends end, as the server's keepalives would
        written_in_load = ticks(logical_source, source_db)
        states = cut_over(airflow, run_id, writer)
    lane = instance(api, run_id, COPY_LANE, 0)
    assert lane["state"] == "success" and lane["try_number"] >= 2, lane
    hold = instance(api, run_id, HOLD)
    # one holder, one snapshot: the retry read under the snapshot the killed try had
    assert hold["try_number"] == 1 and xcom(api, run_id, HOLD)["snapshot"] == snapshot["snapshot"], states
    assert written_in_load > written_at_trigger, "no write during the load"
    assert xcom(api, run_id, "apply_changes")["applied"] > 0      # writes after the snapshot came by the apply
    assert_identical_and_clean(logical_source, source_db, pg_target, target_db, written_in_load)


def test_a_killed_apply_loses_and_doubles_nothing(airflow, api, logical_source, pg_target, target_db, source_db,
                                                  writer):
    run_id = trigger(api, logical_source, source_db, "127.0.0.1", pg_target.port, target_db, "kill_apply")
    wait_until("the apply applying", lambda: applied_transactions(pg_target, target_db) > 0, START_BOUND)
    apply = running_with_pid(api, run_id, "apply_changes")
    kill_task(airflow, apply)
    at_kill = applied_transactions(pg_target, target_db)
    written_at_kill = ticks(logical_source, source_db)
    running_with_pid(api, run_id, "apply_changes", min_try=apply["try_number"] + 1)
    # the retry goes on from the committed progress, with the writer still writing
    wait_until("the retried apply applying", lambda: applied_transactions(pg_target, target_db) > at_kill,
               RETRY_BOUND)
    cut_over(airflow, run_id, writer)
    assert instance(api, run_id, "apply_changes")["try_number"] > apply["try_number"]
    assert_identical_and_clean(logical_source, source_db, pg_target, target_db, written_at_kill)


def test_a_killed_snapshot_holder_fails_the_readers_and_leaves_no_slot(airflow, api, logical_source, pg_target,
                                                                       target_db, source_db, writer):
    run_id = trigger(api, logical_source, source_db, "127.0.0.1", pg_target.port, target_db, "kill_holder")
    wait_until("the snapshot published", lambda: xcom(api, run_id, HOLD, "snapshot"), START_BOUND)
    kill_task(airflow, running_with_pid(api, run_id, HOLD))
    # the temporary slot goes with the holder's session; the permanent one was never made
    with connect(logical_source, source_db) as src:
        wait_until("the holder's slot gone", lambda: src.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgferry%'").fetchone() == (0,), 30)
    # the readers (structure, plan_lanes, lanes) fail on the gone snapshot; abort (all_done) cleans up by itself
    run = api.wait_for_run(DAG_ID, run_id, RUN_BOUND)
    tis = api.task_instances(DAG_ID, run_id)
    states = api.states(DAG_ID, run_id)
    assert run["state"] == "failed" and states[HOLD] == "failed" and states["abort"] == "success", states
    readers = [t for t in tis if t["task_id"] in (STRUCTURE, PLAN_LANES, COPY_LANE) and t["state"] == "failed"]
    assert readers, states
    for t in readers:
        # not retried: no try can import a snapshot whose holder is gone
        assert t["try_number"] == 1, t
        log = api.task_log(DAG_ID, run_id, t["task_id"], t["map_index"], t["try_number"])
        assert "snapshot holder is gone" in log and CLEAR_LOAD in log, log[-3000:]
    assert {states[k] for k in ("apply_changes", "approve_cutover", "freeze_source", "cleanup")} == \
        {"upstream_failed"}, states
    assert_source_clean(logical_source, source_db)
    with connect(logical_source, source_db) as src:
        src.execute("INSERT INTO app.ticks (item) VALUES (1)")      # never frozen: still writable


def test_a_target_restarted_during_the_apply_ends_identical(airflow, api, logical_source, pg_target, target_db,
                                                            source_db, writer):
    run_id = trigger(api, logical_source, source_db, "127.0.0.1", pg_target.port, target_db, "restart_target")
    wait_until("the apply applying", lambda: applied_transactions(pg_target, target_db) > 0, START_BOUND)
    before = running_with_pid(api, run_id, "apply_changes")
    pg_target.restart("fast")             # every target session ends (57P01), the apply's with them
    at_restart = applied_transactions(pg_target, target_db)
    written_at_restart = ticks(logical_source, source_db)
    running_with_pid(api, run_id, "apply_changes", min_try=before["try_number"] + 1)
    wait_until("the retried apply applying", lambda: applied_transactions(pg_target, target_db) > at_restart,
               RETRY_BOUND)
    cut_over(airflow, run_id, writer)
    assert_identical_and_clean(logical_source, source_db, pg_target, target_db, written_at_restart)


def test_a_source_restarted_during_the_apply_ends_identical(airflow, api, logical_source, pg_target, target_db,
                                                            source_db, writer, tmp_path):
    run_id = trigger(api, logical_source, source_db, "127.0.0.1", pg_target.port, target_db, "restart_source")
    # after the load: the holder has ended (a restart during the hold kills the snapshot: the killed-holder test)
    wait_until("the load done", lambda: instance(api, run_id, HOLD)["state"] == "success", START_BOUND)
    wait_until("the apply applying", lambda: applied_transactions(pg_target, target_db) > 0, START_BOUND)
    before = running_with_pid(api, run_id, "apply_changes")
    logical_source.restart("fast")        # every source session ends (57P01): the apply's, and the writer's
    at_restart = applied_transactions(pg_target, target_db)
    written_at_restart = ticks(logical_source, source_db)
    # pgbench ends on a lost connection: the application reconnects, as a new writer
    writer.wait(timeout=60)
    log = open(tmp_path / "writer-after-restart.log", "w")
    again = start_writer(logical_source, source_db, tmp_path / "writer.sql", log)
    try:
        running_with_pid(api, run_id, "apply_changes", min_try=before["try_number"] + 1)
        wait_until("the retried apply applying", lambda: applied_transactions(pg_target, target_db) > at_restart,
                   RETRY_BOUND)
        wait_until("the writer writing again", lambda: ticks(logical_source, source_db) > written_at_restart, 60)
        cut_over(airflow, run_id, again)
    finally:
        if again.poll() is None:
            again.kill()
            again.wait(timeout=30)
        log.close()
    failed_try = api.task_log(DAG_ID, run_id, "apply_changes", -1, before["try_number"])
    assert "apply_changes lost its source session" in failed_try, failed_try[-3000:]
    assert instance(api, run_id, "apply_changes")["try_number"] > before["try_number"]
    assert_identical_and_clean(logical_source, source_db, pg_target, target_db, written_at_restart)


def test_an_unanswered_approval_times_out_into_abort(airflow, api, logical_source, pg_target, target_db, source_db,
                                                      writer):
    run_id = trigger(api, logical_source, source_db, "127.0.0.1", pg_target.port, target_db, "approval_timeout",
                     approval_timeout_h=0.003)          # 10.8 s, then the scheduler's timeout sweep (15 s)
    api.wait_for_task_state(DAG_ID, run_id, "approve_cutover", "awaiting_input", timeout=APPROVAL_BOUND, poll=1)
    run = api.wait_for_run(DAG_ID, run_id, RUN_BOUND)
    states = api.states(DAG_ID, run_id)
    approve = instance(api, run_id, "approve_cutover")
    # failed once, never retried (a retry would ask again), and never cut over
    assert run["state"] == "failed" and approve["state"] == "failed" and approve["try_number"] == 1, (approve, states)
    assert states["abort"] == "success", states
    assert {states[k] for k in ("freeze_source", "sequences", "validate", "cleanup")} == {"upstream_failed"}, states
    log = api.task_log(DAG_ID, run_id, "approve_cutover", -1, 1)
    assert "no answer within approval_timeout_h" in log and "not cutting over" in log, log[-3000:]
    assert xcom(api, run_id, "approve_cutover", "response") is None
    assert xcom(api, run_id, "abort") is not None
    assert_source_clean(logical_source, source_db)
    # never frozen: the application writes on
    assert writer.poll() is None, "the writer stopped: the source was frozen"
    written = ticks(logical_source, source_db)
    wait_until("the writer writing after the abort", lambda: ticks(logical_source, source_db) > written, 30)
    with connect(logical_source, source_db) as src:
        assert src.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
        src.execute("INSERT INTO app.ticks (item) VALUES (1)")


def test_an_approval_timeout_of_zero_is_refused(api):
    with pytest.raises(RuntimeError) as refused:
        api.trigger(DAG_ID, {"source_conn_id": "any_source", "target_conn_id": "any_target",
                             "approval_timeout_h": 0})
    assert "HTTP 400" in str(refused.value) and "approval_timeout_h" in str(refused.value), refused.value
    assert not [r for r in api.get(f"/dags/{DAG_ID}/dagRuns?state=queued&state=running")["dag_runs"]
                if (r.get("conf") or {}).get("source_conn_id") == "any_source"]
