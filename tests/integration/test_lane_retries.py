"""A retried copy lane on real clusters: what it says it found of its earlier try, the backend that try left
holding the table (ended), and someone else's lock (named, within Param lock_timeout_s).

Each lane runs as an Airflow task's try would: its sessions carry the try's identity (pg/session_names.py,
set per task by dag_factory._run; here by `as_try`). A killed try is a real process killed with SIGKILL
mid-COPY; an orphaned try (a blackholed flow, a lost worker) is a real session named like the lane's first
try, holding the table's lock in an open transaction with rows in its COPY, and a client that sends no more.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.copy import LibpqWriter

from include.pgferry.failures import permanent_reason
from include.pgferry.logical import claims, copy_lane, precheck, structure
from include.pgferry.logical.units import plan_units
from include.pgferry.model import Lane, Plan, Unit
from include.pgferry.pg import session_names
from include.pgferry.pg.locks import LockWaitTimeout
from include.pgferry.pg.session_names import TaskIdentity
from localstack import ROOT
from tests.support.migration import data_rows

pytestmark = pytest.mark.integration

EVENTS = 300_000
TAGS = 20_000
DAG_ID = "lane_retry_test"
KILL_WITHIN_S = 120         # the first try reaches its second unit's COPY
GONE_WITHIN_S = 30          # a killed client's backend notices the closed socket and ends
LOCK_TIMEOUT_S = 3          # Param lock_timeout_s for these lanes (default 180 s)
ORPHAN_ROWS = 5_000


@pytest.fixture(scope="module")
def lane_db(pg_source):
    """One table cut into key ranges (DELETE of a range) and one loaded whole (TRUNCATE)."""
    pg_source.recreate_db("lane_retries")
    pg_source.execute(f"""
        CREATE SCHEMA app;
        CREATE TABLE app.events (id bigint PRIMARY KEY, payload text NOT NULL, at timestamptz NOT NULL);
        CREATE TABLE app.tags (event_id bigint, tag text);
        INSERT INTO app.events SELECT g, repeat(md5(g::text), 6), '2024-01-01'::timestamptz + g * interval '1 s'
          FROM generate_series(1, {EVENTS}) g;
        INSERT INTO app.tags SELECT g % 1000, 't' || (g % 7) FROM generate_series(1, {TAGS}) g;
        ANALYZE;
    """, dbname="lane_retries")
    return "lane_retries"


@pytest.fixture
def lane(lane_db, pg_source, target_db, connections):
    """(params, the lane's XCom form, its units): one lane of every unit, structure restored on the target."""
    params = {**connections(lane_db), "objects": ["app"], "lock_timeout_s": LOCK_TIMEOUT_S}
    state = precheck.precheck(params)
    structure.structure(params, state)
    with psycopg.connect(pg_source.dsn(lane_db)) as src:
        lanes = plan_units(src, Plan.from_xcom(state["plan"]), lanes=1, binary_ok=True, split_bytes=20 * 1024 * 1024)
    xcom = lanes[0].to_xcom()
    units = list(Lane.from_xcom(xcom).units)
    assert sum(1 for u in units if u.range) >= 3 and any(u.id == "app.tags" for u in units)
    return params, xcom, units


@contextmanager
def as_try(identity: TaskIdentity):
    session_names.configure(identity)
    try:
        yield identity
    finally:
        session_names.configure(None)


def unit_rows(cluster, dbname: str, unit: Unit) -> int:
    """The unit's committed rows, counted by the test's own query."""
    cond = [sql.SQL("true")]
    if unit.range is not None and unit.range.lo is not None:
        cond.append(sql.SQL("{} >= {}").format(sql.Identifier(unit.range.column), sql.Literal(unit.range.lo)))
    if unit.range is not None and unit.range.hi is not None:
        cond.append(sql.SQL("{} < {}").format(sql.Identifier(unit.range.column), sql.Literal(unit.range.hi)))
    with cluster.connect(dbname) as c:
        return c.execute(sql.SQL("SELECT count(*) FROM ONLY {} WHERE {}").format(
            unit.target.identifier, sql.SQL(" AND ").join(cond))).fetchone()[0]


UNIT_LINE = re.compile(r"retry, copy_lane\[0\] try (\d+): unit (app\.\w+(?: \[\d+/\d+\])?)(?: \([^)]*\))?: (?:found (\d+) "
                       r"rows from an earlier try, removed them before copying again|(nothing there) from an earlier "
                       r"try)(.*)$")
DONE_LINE = re.compile(r"retry, copy_lane\[0\] try (\d+): unit (.+?): loaded by try (\d+) \((\d+) rows, marked done in "
                       r"pgferry_copy\.claims\), skipped$")


def unit_lines(records, try_number: int) -> dict[str, tuple[int, str]]:
    """{unit id: (rows found, the rest of the line)} from the lane's per-unit lines of one try, for the units
    it took."""
    out = {}
    for r in records:
        m = UNIT_LINE.match(r.getMessage())
        if m and int(m[1]) == try_number:
            assert m[2] not in out, f"two lines for unit {m[2]}"
            out[m[2]] = (int(m[3]) if m[3] is not None else 0, m[5])
    return out


def done_lines(records, try_number: int) -> dict[str, tuple[int, int]]:
    """{unit id: (the try that loaded it, its rows)}: the units a retry found marked done by an earlier try."""
    out = {}
    for r in records:
        m = DONE_LINE.match(r.getMessage())
        if m and int(m[1]) == try_number:
            assert m[2] not in out, f"two lines for unit {m[2]}"
            out[m[2]] = (int(m[3]), int(m[4]))
    return out


def claim_rows(pg_target, target_db, run: str) -> dict[str, tuple[int, int | None, int | None]]:
    """{unit id: (claim number, lane, try)} of the run's list on the target (lane and try: who marked it done)."""
    return {r[0]: tuple(r[1:]) for r in pg_target.query(
        "SELECT unit_id, no, lane, try FROM pgferry_copy.claims WHERE run = %s", target_db, params=(run,))}


CHILD = """
import json, sys
from include.pgferry.logical import copy_lane
from include.pgferry.pg import session_names
args = json.load(open(sys.argv[1]))
session_names.configure(session_names.TaskIdentity(**args["identity"]))
copy_lane.copy_lane(args["params"], args["lane"])
"""


def backends_of_try(conn: psycopg.Connection, dbname: str, identity: TaskIdentity) -> list[tuple]:
    """(pid, unit, rows its COPY has taken or None) of every session of `identity`'s try on `dbname`."""
    rows = conn.execute("SELECT a.pid, a.application_name, p.tuples_processed FROM pg_stat_activity a "
                        "LEFT JOIN pg_stat_progress_copy p USING (pid) WHERE a.datname = %s", (dbname,)).fetchall()
    out = []
    for pid, app, copied in rows:
        name = session_names.parse(app)
        if name and (name.run_key, name.map_index, name.try_number) == \
                (identity.run_key, identity.map_index, identity.try_number):
            out.append((pid, name.unit, copied))
    return out


def kill_mid_copy(pg_target, target_db, first: TaskIdentity, child: subprocess.Popen) -> str:
    """SIGKILL the first try's process once its target session is in COPY with rows of a unit, after it marked
    at least one unit done (committed); the unit it was loading."""
    deadline = time.monotonic() + KILL_WITHIN_S
    with pg_target.connect() as watch, psycopg.connect(pg_target.dsn(target_db), autocommit=True) as listed:
        while time.monotonic() < deadline and child.poll() is None:     # polled without pause: a unit takes ~0.1 s
            for _pid, unit, copied in backends_of_try(watch, target_db, first):
                if unit is None or not copied:
                    continue
                done = listed.execute("SELECT count(*) FROM pgferry_copy.claims WHERE run = %s AND done_at IS NOT "
                                      "NULL", (first.run_key,)).fetchone()[0]
                if done >= 1:
                    os.kill(child.pid, signal.SIGKILL)
                    child.wait(30)
                    return claim_id(pg_target, target_db, first.run_key, unit)
    child.kill()
    raise AssertionError(f"the first try never reached a second unit's COPY (exit code {child.poll()})")


def claim_id(pg_target, target_db, run: str, no: int) -> str:
    return pg_target.query("SELECT unit_id FROM pgferry_copy.claims WHERE run = %s AND no = %s", target_db,
                           params=(run, no))[0][0]


def wait_gone(pg_target, target_db, identity: TaskIdentity):
    deadline = time.monotonic() + GONE_WITHIN_S
    with pg_target.connect() as watch:
        while backends_of_try(watch, target_db, identity):
            assert time.monotonic() < deadline, "the killed try's backend did not end"
            time.sleep(0.1)


@pytest.mark.timeout(600)
def test_a_retried_lane_names_the_units_its_killed_try_loaded_and_takes_the_rest(
        lane, lane_db, pg_source, pg_target, target_db, tmp_path, caplog):
    params, xcom, units = lane
    run_id = f"manual__{uuid.uuid4().hex}"
    first, second, third = (TaskIdentity(DAG_ID, run_id, "copy_lane", 0, n) for n in (1, 2, 3))

    # try 1: a real process, SIGKILLed mid-COPY (what a worker's OOM kill or a lost machine does)
    args = tmp_path / "lane.json"
    args.write_text(json.dumps({"identity": first.__dict__, "params": params, "lane": xcom}))
    with open(tmp_path / "try1.log", "wb") as out:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(args)], cwd=ROOT, env=os.environ.copy(),
                                 stdout=out, stderr=subprocess.STDOUT)
    killed_in = kill_mid_copy(pg_target, target_db, first, child)
    assert child.returncode == -signal.SIGKILL
    wait_gone(pg_target, target_db, first)

    # what try 1 left, by the test's own count: the units it marked done, whole; nothing of the one it was in
    # nor of those it had not taken
    by_id = {u.id: u for u in units}
    left = {i: unit_rows(pg_target, target_db, u) for i, u in by_id.items()}
    source = {i: unit_rows(pg_source, lane_db, u) for i, u in by_id.items()}
    marked = {i for i, (_, lane_no, try_no) in claim_rows(pg_target, target_db, first.run_key).items() if try_no == 1}
    assert marked and killed_in not in marked and left[killed_in] == 0
    assert {i for i in left if left[i]} == marked and all(left[i] == source[i] for i in marked), (left, source)

    with caplog.at_level(logging.INFO, logger="pgferry"), as_try(second):
        results = copy_lane.copy_lane(params, xcom)
    # the units try 1 marked done are not loaded again: named, with the rows the test counts
    assert done_lines(caplog.records, 2) == {i: (1, left[i]) for i in marked}
    # the others are taken: nothing of them there, the killed one's uncommitted rows rolled back by the server
    said = unit_lines(caplog.records, 2)
    assert said == {i: (0, "") for i in by_id if i not in marked}
    assert sorted(r["id"] for r in results) == sorted(by_id)
    assert {r["id"] for r in results if r.get("already_loaded")} == marked
    assert data_rows(pg_target, target_db) == data_rows(pg_source, lane_db)

    # cleared after success: every unit is marked done, none is loaded again, nothing doubled
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pgferry"), as_try(third):
        again = copy_lane.copy_lane(params, xcom)
    assert {i: rows for i, (_, rows) in done_lines(caplog.records, 3).items()} == source
    assert all(r.get("already_loaded") for r in again) and len(again) == len(units)
    assert data_rows(pg_target, target_db) == data_rows(pg_source, lane_db)


class OrphanedTry(threading.Thread):
    """A session named like the lane's first try loading app.tags (unit `unit` of the lane): its TRUNCATE
    holds the table's ACCESS EXCLUSIVE lock, its COPY has taken ORPHAN_ROWS rows, then its client sends
    nothing more, as a client behind a dropped flow or on a lost worker, until `release` is set."""

    def __init__(self, pg_source, lane_db, pg_target, target_db, name: str):
        super().__init__(daemon=True)
        self.src, self.tgt, self.name_ = pg_source.dsn(lane_db), pg_target.dsn(target_db), name
        self.ready, self.release = threading.Event(), threading.Event()
        self.pid = None
        self.error: BaseException | None = None

    def run(self):
        try:
            with psycopg.connect(self.src) as src, src.cursor().copy(
                    f"COPY (SELECT event_id, tag FROM app.tags LIMIT {ORPHAN_ROWS}) TO STDOUT") as out:
                data = b"".join(bytes(block) for block in out)
            with psycopg.connect(self.tgt, application_name=self.name_) as conn:
                self.pid = conn.info.backend_pid
                conn.execute("TRUNCATE ONLY app.tags")
                cur = conn.cursor()
                with cur.copy("COPY app.tags (event_id, tag) FROM STDIN", writer=LibpqWriter(cur, flush_threshold=0)) \
                        as cp:
                    cp.write(data)
                    self.ready.set()
                    self.release.wait(300)
        except Exception as e:   # noqa: BLE001 -- the test asserts on it
            self.error = e
        finally:
            self.ready.set()


def copied_rows(pg_target, target_db, pid) -> int | None:
    rows = pg_target.query("SELECT tuples_processed FROM pg_stat_progress_copy WHERE pid = %s", target_db,
                           params=(pid,))
    return rows[0][0] if rows else None


@pytest.mark.timeout(300)
def test_a_retry_ends_the_backend_its_orphaned_earlier_try_left_holding_the_table(
        lane, lane_db, pg_source, pg_target, target_db, caplog):
    params, xcom, units = lane
    run_id = f"manual__{uuid.uuid4().hex}"
    first, second = (TaskIdentity(DAG_ID, run_id, "copy_lane", 0, n) for n in (1, 2))
    # the run's list, as plan_lanes writes it; the orphan is named for app.tags' claim, as a lane's session is
    with psycopg.connect(pg_target.dsn(target_db), autocommit=True) as c:
        claims.register(c, first.run_key, units)
    tags = claim_rows(pg_target, target_db, first.run_key)["app.tags"][0]
    orphan = OrphanedTry(pg_source, lane_db, pg_target, target_db, first.application_name("copy", unit=tags))
    orphan.start()
    try:
        assert orphan.ready.wait(60) and orphan.error is None, orphan.error
        deadline = time.monotonic() + 30
        while copied_rows(pg_target, target_db, orphan.pid) != ORPHAN_ROWS:
            assert time.monotonic() < deadline, copied_rows(pg_target, target_db, orphan.pid)
            time.sleep(0.05)
        with caplog.at_level(logging.INFO, logger="pgferry"), as_try(second):
            copy_lane.copy_lane(params, xcom)
    finally:
        orphan.release.set()
        orphan.join(60)

    ended = [r.getMessage() for r in caplog.records if "ended the target backend" in r.getMessage()]
    assert len(ended) == 1, ended
    assert ended[0].startswith(f"copy_lane[0] try 2: ended the target backend pid {orphan.pid} of try 1 (copy); "
                               f"active, waiting on ClientRead, for ")
    assert "holding locks on app.tags" in ended[0]
    assert f"its COPY into app.tags had taken {ORPHAN_ROWS} uncommitted rows" in ended[0]
    said = unit_lines(caplog.records, 2)
    assert said["app.tags"] == (0, f"; try 1's {ORPHAN_ROWS} uncommitted rows of it rolled back "
                             f"(its backend pid {orphan.pid} was ended)")
    assert isinstance(orphan.error, psycopg.OperationalError), orphan.error   # its session is gone
    assert pg_target.query("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", params=(orphan.pid,)) == [(0,)]
    assert data_rows(pg_target, target_db) == data_rows(pg_source, lane_db)


@pytest.mark.timeout(300)
def test_someone_elses_lock_fails_the_unit_within_the_bound_naming_table_and_pid(
        lane, lane_db, pg_source, pg_target, target_db):
    params, xcom, units = lane
    run_id = f"manual__{uuid.uuid4().hex}"
    with psycopg.connect(pg_target.dsn(target_db), application_name="monthly report") as reader:
        reader.execute("SELECT count(*) FROM app.tags")        # a reader that left its transaction open
        t0 = time.monotonic()
        with as_try(TaskIdentity(DAG_ID, run_id, "copy_lane", 0, 1)), pytest.raises(LockWaitTimeout) as err:
            copy_lane.copy_lane(params, xcom)
        waited = time.monotonic() - t0
        message = str(err.value)
        assert message.startswith(f"waited more than {LOCK_TIMEOUT_S} s (Param lock_timeout_s) for a lock on "
                                  f"app.tags (ACCESS EXCLUSIVE mode): pid {reader.info.backend_pid} (postgres, "
                                  f"application 'monthly report', idle in transaction for ")
        assert "holds AccessShareLock" in message
        assert permanent_reason(err.value) is None                 # retried: the reader may be gone by then
        assert waited < 120, waited                                # the bound, not the reader, ended the wait
        # the lane's other units were still copied
        assert all(unit_rows(pg_target, target_db, u) == unit_rows(pg_source, lane_db, u)
                   for u in units if u.id != "app.tags")
    # the reader gone, the retry loads the table
    with as_try(TaskIdentity(DAG_ID, run_id, "copy_lane", 0, 2)):
        copy_lane.copy_lane(params, xcom)
    assert data_rows(pg_target, target_db) == data_rows(pg_source, lane_db)


@pytest.mark.dagrun
@pytest.mark.timeout(600)
def test_a_dag_runs_sessions_are_named_for_their_task_map_index_and_try(airflow_db, lane_db, pg_source, pg_target,
                                                                        target_db, connections, monkeypatch):
    """The wiring under a real dag.test(): every psycopg session a task opens says which try of which task
    instance it is, read from Airflow's own task instance (pg_dump's conninfo: tests/unit/test_session_names)."""
    from localstack.dagrun import load_dag, run_dag

    names = []
    real_connect = psycopg.connect
    monkeypatch.setattr("psycopg.connect", lambda *a, **kw: (names.append(kw.get("application_name")),
                                                             real_connect(*a, **kw))[1])
    dr, states = run_dag(load_dag("postgres_logical_migration"),
                         {**connections(lane_db), "objects": ["app"], "parallelism": 2})
    assert dr.state == "success", states
    parsed = [(session_names.parse(n), n) for n in names]
    assert all(p is not None for p, _ in parsed), [n for p, n in parsed if p is None]
    key = session_names.run_key(dr.dag_id, dr.run_id)
    assert {p.run_key for p, _ in parsed} == {key}
    lanes = {(p.map_index, p.try_number, p.role) for p, _ in parsed if p.task_id == "copy_lane"}
    assert {(0, 1, "copy"), (1, 1, "copy")} <= lanes, lanes
    assert {p.task_id for p, _ in parsed} >= {"precheck", "structure", "plan_lanes", "copy_lane", "validate"}
    assert all(len(n.encode()) <= 63 for _, n in parsed)
    assert data_rows(pg_target, target_db) == data_rows(pg_source, lane_db)
