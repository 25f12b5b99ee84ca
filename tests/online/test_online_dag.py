"""postgres_online_migration end to end under a real scheduler (LocalExecutor, `airflow standalone`): a
pgbench writer keeps writing to the source through the load and the apply; when the approval is asked the
writer stops and the test answers "Cut over" through the REST API; the run must end successfully with
every table identical on both sides and no slot, publication, subscription or bookkeeping left. Each test
runs once per apply engine (pgferry's workers, a native subscription), all on one Airflow for the module."""
from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from include.pgferry.pg.catalog import fetch_one
from localstack.pgcluster import pg_bindir
from tests.online.conftest import connect
from tests.online.test_follow_with_writer import SOURCE_SQL, TABLES, WRITER, fingerprint
from tests.support.fault_harness import LocalAirflow

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

DAG_ID = "postgres_online_migration"
DB = "online_dag_src"
ENGINES = ["pgferry", "subscription"]


def xcom(api, run_id: str, task_id: str, key: str = "return_value"):
    raw = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")["value"]
    if isinstance(raw, str):                 # the stored JSON as text, or a string value itself
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def assert_online_report(airflow, run_id: str):
    """The cutover as the run report states it: the lag wait_caught_up saw last (bytes, seconds, WAL), the
    answer given above, the downtime freeze_source start -> validate end (the same in cleanup's XCom), the
    apply's counts; and the Run report tab shows it."""
    api = airflow.api
    lag = xcom(api, run_id, "wait_caught_up", "lag")
    assert 0 <= lag["lag_bytes"] <= 64 * 1024 * 1024 and lag["retained_bytes"] >= 0, lag
    assert lag["lag_seconds"] is None or lag["lag_seconds"] >= 0, lag
    asked = xcom(api, run_id, "wait_caught_up")
    assert asked.startswith("apply lag ") and " s (slot pgferry_" in asked, asked
    report = xcom(api, run_id, "validate", "pgferry_online_report")
    assert report["lag_at_approval"] == {k: lag[k] for k in ("lag_bytes", "lag_seconds", "retained_bytes")}
    assert report["approval"]["option"] == "Cut over" and report["approval"]["freeze_mode"] == "stopped"
    assert airflow.info["username"] in report["approval"]["by"] and report["approval"]["at"], report
    frozen = xcom(api, run_id, "freeze_source")
    assert report["freeze_started_at"] == frozen["started_at"] <= frozen["frozen_at"]
    assert 0 < report["downtime_s"] == round(report["validated_at"] - frozen["started_at"], 1) < 600, report
    assert xcom(api, run_id, "cleanup")["downtime_s"] == report["downtime_s"]
    # the writer ran through the load and after it: the apply carried its transactions, each a few rows
    applied = report["apply"]
    assert applied == {k: xcom(api, run_id, "apply_changes")[k] for k in ("transactions", "row_changes")}
    assert 0 < applied["transactions"] <= applied["row_changes"], applied
    req = urllib.request.Request(f"{api.url}/pgferry/report/{DAG_ID}/{run_id}",
                                 headers={"Authorization": f"Bearer {api._token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        page = r.read().decode()
    assert "<h2>Online cutover</h2>" in page and f"<b>{report['downtime_s']:.1f} s</b>" in page
    assert f"{applied['transactions']} transaction(s), {applied['row_changes']} row change(s)" in page
    # prevalidate checksummed every table before the approval: validate settled some from it at the cutover
    reads = report["validate_reads"]
    assert reads["tables"] >= reads["settled"] >= 1, reads
    assert xcom(api, run_id, "prevalidate")["summary"].startswith(f"{reads['tables']} table(s) checksummed")
    assert f"{reads['settled']} of {reads['tables']} table(s) settled from prevalidate" in page


@pytest.fixture(scope="module")
def airflow():
    with LocalAirflow(name="online") as running:
        running.api.wait_for_dag(DAG_ID)
        yield running


def leftovers(src, tgt):
    """What a finished or aborted run must not leave: slots, publications, subscriptions, bookkeeping."""
    def count(conn, query):
        return conn.execute(query).fetchone()[0]
    return {"slots": count(src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgferry%'"),
            "publications": count(src, "SELECT count(*) FROM pg_publication WHERE pubname LIKE 'pgferry%'"),
            "subscriptions": count(tgt, "SELECT count(*) FROM pg_subscription WHERE subname LIKE 'pgferry%'"),
            "bookkeeping": fetch_one(tgt, "list_existing_schemas", schemas=["pgferry_online"]) is not None}


NOTHING_LEFT = {"slots": 0, "publications": 0, "subscriptions": 0, "bookkeeping": False}


@pytest.mark.parametrize("engine", ENGINES)
def test_online_migration_with_a_live_writer(airflow, engine, logical_source, pg_target, target_db, tmp_path):
    logical_source.recreate_db(DB)
    subprocess.run([str(pg_bindir() / "pgbench"), "-i", "-q", "-s", "1", logical_source.dsn(DB)],
                   check=True, capture_output=True, timeout=120)
    with connect(logical_source, DB) as src:
        src.execute(SOURCE_SQL)
        src.execute("ALTER TABLE pgbench_history REPLICA IDENTITY FULL")
    script = tmp_path / "writer.sql"
    script.write_text(WRITER)
    log = open(tmp_path / "writer.log", "w")
    writer = subprocess.Popen([str(pg_bindir() / "pgbench"), "-n", "-c", "1", "-j", "1", "-T", "900", "-R", "50",
                               "-f", str(script), logical_source.dsn(DB)], stdout=log, stderr=subprocess.STDOUT)
    try:
        api = airflow.api
        api.postgres_connection("online_source", "127.0.0.1", logical_source.port, DB)
        api.postgres_connection("online_target", "127.0.0.1", pg_target.port, target_db)
        run_id = api.trigger(DAG_ID, {"source_conn_id": "online_source", "target_conn_id": "online_target",
                                      "max_lag_bytes": 64 * 1024 * 1024, "apply_engine": engine})
        api.wait_for_task_state(DAG_ID, run_id, "approve_cutover", "awaiting_input", timeout=900, poll=2)
        assert writer.poll() is None, "the writer must still be writing when the cutover is asked"
        if engine == "subscription":
            # the target server applies: its subscription runs on the run's slot while the writer writes
            with connect(pg_target, target_db) as tgt:
                assert tgt.execute("SELECT count(*) FROM pg_stat_subscription s JOIN pg_subscription p "
                                   "ON p.oid = s.subid WHERE p.subname LIKE 'pgferry%' AND s.pid IS NOT NULL "
                                   "AND s.relid IS NULL").fetchone() == (1,)
        writer.terminate()                   # the application stops: the freeze_mode "stopped"
        assert writer.wait(timeout=60) is not None
        airflow.answer(DAG_ID, run_id, "approve_cutover", ["Cut over"], {"freeze_mode": "stopped"})
        run = api.wait_for_run(DAG_ID, run_id, timeout=900)
        states = api.states(DAG_ID, run_id)
        assert run["state"] == "success", states
        assert states["abort"] == "skipped" and states["cleanup"] == "success"
        cleanup = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/cleanup/xcomEntries/return_value")
        assert "downtime_s" in str(cleanup["value"])
        applied = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/apply_changes/xcomEntries/return_value")
        frozen = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/freeze_source/xcomEntries/return_value")
        if engine == "subscription":
            assert "'engine': 'subscription'" in str(applied["value"]), applied
            assert "'detached': True" in str(frozen["value"]), frozen
            pre = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/prevalidate/xcomEntries/return_value")
            assert "not done with apply_engine subscription" in str(pre["value"]), pre
        else:
            assert "'applied':" in str(applied["value"]) and "subscription" not in str(frozen["value"])
            assert_online_report(airflow, run_id)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
    with connect(logical_source, DB) as src, connect(pg_target, target_db) as tgt:
        for table in TABLES:
            assert fingerprint(tgt, table) == fingerprint(src, table), table
        assert leftovers(src, tgt) == NOTHING_LEFT
        # the run's publication was the source's alone: a whole-database run never creates it on the target
        assert tgt.execute("SELECT count(*) FROM pg_publication WHERE pubname LIKE 'pgferry%'").fetchone() == (0,)


@pytest.mark.parametrize("engine", ENGINES)
def test_abort_removes_everything_and_leaves_the_source_writable(airflow, engine, logical_source, pg_target,
                                                                 target_db):
    db = "online_abort_src"
    logical_source.recreate_db(db)
    with connect(logical_source, db) as src:
        src.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
        src.execute("INSERT INTO items SELECT g, 'v' FROM generate_series(1, 100) g")
    api = airflow.api
    api.postgres_connection("abort_source", "127.0.0.1", logical_source.port, db)
    api.postgres_connection("abort_target", "127.0.0.1", pg_target.port, target_db)
    run_id = api.trigger(DAG_ID, {"source_conn_id": "abort_source", "target_conn_id": "abort_target",
                                  "apply_engine": engine})
    api.wait_for_task_state(DAG_ID, run_id, "approve_cutover", "awaiting_input", timeout=900, poll=2)
    with connect(logical_source, db) as src:      # a write after the load: applied, then the abort
        src.execute("INSERT INTO items VALUES (101, 'late')")
    airflow.answer(DAG_ID, run_id, "approve_cutover", ["Abort"], {"freeze_mode": "read_only"})
    api.wait_for_run(DAG_ID, run_id, timeout=600)
    states = api.states(DAG_ID, run_id)
    assert states["abort"] == "success" and states["apply_changes"] == "success", states
    assert {states[t] for t in ("freeze_source", "sequences", "validate", "cleanup")} == {"skipped"}, states
    with connect(logical_source, db) as src, connect(pg_target, target_db) as tgt:
        # the subscription engine's too: abort removed the target's subscription before the slot
        assert leftovers(src, tgt) == NOTHING_LEFT
        src.execute("INSERT INTO items VALUES (102, 'still writable')")    # never frozen
