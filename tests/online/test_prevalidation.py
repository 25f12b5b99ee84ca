"""Validate ahead of the cutover (online/prevalidation.py) against real clusters: a logical migration (dag.test)
gives the target and the run's state; a publication and slot made after it, pgferry's apply and a writer
stand in for the online run. `prevalidate` checksums by bucket while the source takes writes; after more
writes and the apply through them, the cutover's validate reads again only the changed buckets, and still
catches what it must: a row altered on the target before the pre-validation, a write on the target by
someone else after it, and a write on the source the apply never saw.

One migration serves the module; each test gets a fresh slot and publication and makes the target equal to
the source again (the source keeps each test's writes)."""
from __future__ import annotations

import itertools
import logging

import pytest
from psycopg import sql

from include.pgferry.logical.validate import ValidationFailed
from include.pgferry.model import Plan
from include.pgferry.online import apply as ap
from include.pgferry.online import changed_buckets as cb
from include.pgferry.online import prevalidation as pv
from include.pgferry.online import slot as sl
from include.pgferry.online import tasks
from tests.online.conftest import connect
from tests.support.migration import migrated_databases

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

ROWS = 20_000
SOURCE_SQL = f"""
CREATE SCHEMA app;
CREATE TABLE app.big (id bigint PRIMARY KEY, v text, n int);
INSERT INTO app.big SELECT g, md5(g::text), g % 100 FROM generate_series(1, {ROWS}) g;
CREATE TABLE app.people (id int PRIMARY KEY, full_name text);
INSERT INTO app.people SELECT g, 'person ' || g FROM generate_series(1, 3000) g;
CREATE TABLE app.nokey (a int, b text);
ALTER TABLE app.nokey REPLICA IDENTITY FULL;
INSERT INTO app.nokey SELECT g, 'x' FROM generate_series(1, 500) g;
CREATE TABLE app.quiet (id int PRIMARY KEY, v text);
INSERT INTO app.quiet SELECT g, 'q' FROM generate_series(1, 1000) g;
"""
# the writes during the online run: a few keys of big, the renamed key column's table, the keyless table
WRITES = ("UPDATE app.big SET v = 'changed' WHERE id IN (5, 7000, 19999)",
          "INSERT INTO app.big VALUES (30000, 'new', 1)",
          "DELETE FROM app.big WHERE id = 12",
          "UPDATE app.big SET id = 40000 WHERE id = 15000",
          "UPDATE app.people SET full_name = 'renamed' WHERE id = 10",
          "INSERT INTO app.nokey VALUES (9999, 'y')")
_runs = itertools.count(1)


@pytest.fixture(scope="module")
def migrated(airflow_db, logical_source, pg_target):
    with migrated_databases(logical_source, pg_target, "preval", SOURCE_SQL, objects=["app"],
                            rename={"app.people": "persons", "app.people.id": "person_id"}) as migrated:
        yield migrated


@pytest.fixture
def online(migrated, logical_source, pg_target):
    """The run's publication and slot (made after the load, as the holder's would be), the apply worker,
    and the state as the online DAG has it. Afterwards the target is made equal to the source again."""
    params, state, source_db, target_db = migrated
    n = next(_runs)
    names = {"slot": f"pgferry_preval_{n}", "temporary_slot": f"pgferry_preval_{n}_tmp",
             "publication": f"pgferry_preval_{n}"}
    state = {**state, "online": names}
    src = connect(logical_source, source_db)
    src.execute("SET synchronous_commit = on")
    src.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE app.big, app.people, app.nokey, app.quiet").format(
        sql.Identifier(names["publication"])))
    src.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (names["slot"],))
    tgt = connect(pg_target, target_db)
    ap.ensure_bookkeeping(tgt)
    ap.open_target_session(tgt)
    worker = ap.ApplyWorker(src, tgt, Plan.from_xcom(state["plan"]), names["slot"], names["publication"])
    yield params, state, worker
    with connect(pg_target, target_db) as t:
        sl.remove_bookkeeping(t, names["slot"])
    src.execute("SELECT pg_drop_replication_slot(%s)", (names["slot"],))
    src.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(names["publication"])))
    # the target as the source again, for the next test: the rows of every table copied over
    with connect(pg_target, target_db) as t:
        for table, target_table in (("app.big", "app.big"), ("app.people", "app.persons"), ("app.nokey", "app.nokey"),
                                    ("app.quiet", "app.quiet")):
            rows = src.execute(f"SELECT * FROM {table}").fetchall()
            with t.transaction():
                t.execute(f"TRUNCATE {target_table}")
                with t.cursor().copy(f"COPY {target_table} FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
    src.close()
    tgt.close()


def write(worker, *statements):
    for s in statements:
        worker.source.execute(s)


def drain(worker):
    for _ in range(100):
        if worker.batch().drained:
            return
    raise AssertionError("the apply never drained the slot")


def frozen(worker) -> dict:
    from include.pgferry.logical.comparison import write_counters
    return {"write_counters": write_counters(worker.source, worker.plan)}


def cutover_validate(params, state, worker, pre):
    drain(worker)
    return tasks.validate_online(params, state, frozen(worker), [], pre=pre)


def by_table(report) -> dict:
    return {t["table"]: t for t in report["tables"]}


def test_the_cutover_reads_again_only_the_buckets_changed_since(online, caplog):
    params, state, worker = online
    write(worker, "UPDATE app.big SET n = n + 1 WHERE id = 100")     # before: applied, in both reads
    drain(worker)
    pre = pv.prevalidate(params, state)
    assert set(pre["tables"]) == {"app.big", "app.people", "app.nokey", "app.quiet"}
    assert pre["tables"]["app.big"]["key_column"] == "id" and pre["tables"]["app.nokey"]["key_column"] is None
    assert "0 bucket(s) in 0 table(s) differed" in pre["summary"], pre["summary"]
    write(worker, *WRITES)
    with caplog.at_level(logging.INFO, logger="pgferry"):
        report = cutover_validate(params, state, worker, pre)
    assert report["ok"], report["problems"]
    tables = by_table(report)
    # big: 7 keys named by the changes (5, 7000, 19999, 30000, 12, 15000 and 40000), in at most 7 buckets
    assert 1 <= tables["app.big"]["buckets_read_again"] <= 7
    assert tables["app.big"]["source_rows"] == tables["app.big"]["target_rows"] == ROWS
    assert tables["app.people"]["buckets_read_again"] == 1 and tables["app.people"]["target"] == "app.persons"
    assert tables["app.quiet"]["buckets_read_again"] == 0
    assert "buckets_read_again" not in tables["app.nokey"]        # one bucket, changed: read whole
    assert "validate reads app.nokey whole: changed on the source (no integer key: one bucket)" in caplog.text
    # the bookkeeping went before validate compared objects: no pgferry table or trigger on the target
    assert cb.watching(worker.target, state["online"]["slot"]) == 0


def test_a_row_altered_on_the_target_before_the_prevalidation_is_caught(online):
    params, state, worker = online
    with worker.target.transaction():     # as a replica-role session: no watch trigger would fire
        worker.target.execute("UPDATE app.quiet SET v = 'tampered' WHERE id = 500")
    pre = pv.prevalidate(params, state)
    assert "1 bucket(s) in 1 table(s) differed" in pre["summary"], pre["summary"]
    with pytest.raises(ValidationFailed) as failed:
        cutover_validate(params, state, worker, pre)
    assert "app.quiet" in str(failed.value)


def test_a_write_on_the_target_by_someone_else_after_the_prevalidation_is_caught(online, pg_target, migrated):
    params, state, worker = online
    pre = pv.prevalidate(params, state)
    with connect(pg_target, migrated[3]) as someone:       # an ordinary session: the watch trigger fires
        someone.execute("DELETE FROM app.quiet WHERE id = 1")
    with pytest.raises(ValidationFailed) as failed:
        cutover_validate(params, state, worker, pre)
    assert "app.quiet" in str(failed.value)


def test_a_source_write_the_apply_never_saw_is_caught(online):
    params, state, worker = online
    pre = pv.prevalidate(params, state)
    drain(worker)
    write(worker, "UPDATE app.quiet SET v = 'late' WHERE id = 7")   # after the apply's last batch
    with pytest.raises(ValidationFailed) as failed:
        tasks.validate_online(params, state, frozen(worker), [], pre=pre)
    assert "app.quiet" in str(failed.value)


def test_changes_by_bucket_and_whole_tables_are_recorded_with_the_batch(online):
    params, state, worker = online
    pv.prevalidate(params, state)
    slot = state["online"]["slot"]
    shift = cb.watched(worker.target, slot)[_oid(worker, "app.big")].shift
    write(worker, "UPDATE app.big SET v = 'x' WHERE id = 1000", "TRUNCATE app.nokey")
    drain(worker)
    buckets = {r[0] for r in worker.target.execute(sql.SQL("SELECT bucket FROM {} WHERE slot_name = %s").format(
        cb.BUCKETS.identifier), (slot,))}
    assert buckets == {1000 >> shift}
    whole = dict(worker.target.execute(sql.SQL("SELECT table_oid, why FROM {} WHERE slot_name = %s").format(
        cb.WHOLE.identifier), (slot,)).fetchall())
    assert whole == {_oid(worker, "app.nokey"): "truncated on the source"}


def _oid(worker, name) -> int:
    return worker.source.execute("SELECT %s::regclass::oid::bigint", (name,)).fetchone()[0]


@pytest.mark.parametrize("low, high, rows, expected", [
    (1, 20_000, 20_000, 5),          # dense keys: 32 per bucket
    (1, 20_000_000, 20_000, 15),     # sparse: 1000 keys a row, about 32 rows a bucket
    (None, None, 0, pv.UNKNOWN_SHIFT),
    (-(1 << 62), 1 << 62, 10, 62),   # never wider than int8 shifts go
])
def test_bucket_width(low, high, rows, expected):
    assert pv.shift_for(low, high, rows) == expected


def test_a_changed_bucket_is_compared_as_it_is_now(online):
    """A row of a bucket the apply changed, altered on the target behind the apply's back (replica role, as
    the apply itself: no watch trigger): the bucket is read again, so the difference is found."""
    params, state, worker = online
    pre = pv.prevalidate(params, state)
    write(worker, "UPDATE app.big SET n = n + 1 WHERE id = 7000")
    drain(worker)
    with worker.target.transaction():
        worker.target.execute("UPDATE app.big SET v = 'wrong' WHERE id = 7000")
    with pytest.raises(ValidationFailed) as failed:
        tasks.validate_online(params, state, frozen(worker), [], pre=pre)
    assert "table app.big: content checksum differs" in str(failed.value)
