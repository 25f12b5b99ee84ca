"""pgferry's change apply against real clusters: a slot on the wal_level=logical source, writes after it,
the decoded transactions applied to the target with the plan's renames, and both sides compared row by
row."""
from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from psycopg import sql

from include.pgferry.model import Column, Plan, QualifiedName, Relation
from include.pgferry.online import apply as ap
from include.pgferry.online import slot as sl
from tests.online.conftest import connect

pytestmark = pytest.mark.integration

SRC_DB = "applysrc"
BIG = "b" * 9000        # out of line (STORAGE EXTERNAL): an UPDATE that keeps it sends 'u'
_runs = itertools.count(1)

SOURCE_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.items (id int PRIMARY KEY, qty int NOT NULL, body text, note text);
ALTER TABLE app.items ALTER body SET STORAGE EXTERNAL;
CREATE TABLE app.nokey (a int, b text, j json);
ALTER TABLE app.nokey REPLICA IDENTITY FULL;
CREATE TABLE app.people (id int PRIMARY KEY, full_name text, secret text);
CREATE TABLE app.codes (code text NOT NULL, v int);
CREATE UNIQUE INDEX codes_code ON app.codes (code);
ALTER TABLE app.codes REPLICA IDENTITY USING INDEX codes_code;
CREATE TABLE app.other (id int PRIMARY KEY);
CREATE TABLE app.parted (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE app.parted_eu PARTITION OF app.parted FOR VALUES IN ('eu');
CREATE TABLE app.parted_us PARTITION OF app.parted FOR VALUES IN ('us');
"""
# the target as structure would leave it: people renamed to crm.persons, full_name to name, secret left out
TARGET_SQL = """
CREATE SCHEMA app; CREATE SCHEMA crm;
CREATE TABLE app.items (id int PRIMARY KEY, qty int NOT NULL, body text, note text);
CREATE TABLE app.nokey (a int, b text, j json);
CREATE TABLE crm.persons (id int PRIMARY KEY, name text);
CREATE TABLE app.codes (code text NOT NULL, v int);
CREATE UNIQUE INDEX codes_code ON app.codes (code);
CREATE TABLE app.parted (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE app.parted_eu PARTITION OF app.parted FOR VALUES IN ('eu');
CREATE TABLE app.parted_us PARTITION OF app.parted FOR VALUES IN ('us');
"""
INITIAL = [
    ("INSERT INTO app.items VALUES (1, 1, %s, 'one'), (2, 2, %s, 'two'), (3, 3, NULL, 'three')", (BIG, BIG)),
    ("INSERT INTO app.nokey VALUES (1, 'dup', '{\"k\": 1}'), (1, 'dup', '{\"k\": 1}'), (2, NULL, NULL)", None),
    ("INSERT INTO app.codes VALUES ('a', 1), ('b', 2)", None),
    ("INSERT INTO app.parted VALUES (1, 'eu', 1), (2, 'us', 2)", None),
]
COMPARE = {  # source query -> target query, both ordered
    "items": ("SELECT id, qty, body, note FROM app.items ORDER BY id", "SELECT * FROM app.items ORDER BY id"),
    "nokey": ("SELECT a, b, j::text FROM app.nokey ORDER BY 1, 2, 3", "SELECT a, b, j::text FROM app.nokey ORDER BY 1, 2, 3"),
    "people": ("SELECT id, full_name FROM app.people ORDER BY id", "SELECT id, name FROM crm.persons ORDER BY id"),
    "codes": ("SELECT code, v FROM app.codes ORDER BY code", "SELECT code, v FROM app.codes ORDER BY code"),
    "parted": ("SELECT tableoid::regclass::text, * FROM app.parted ORDER BY id",
               "SELECT tableoid::regclass::text, * FROM app.parted ORDER BY id"),
}


def _relation(src, schema, name, target=None, renames=None, left_out=()):
    oid = src.execute("SELECT %s::regclass::oid::bigint", (f"{schema}.{name}",)).fetchone()[0]
    names = [r[0] for r in src.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
                                       "AND NOT attisdropped ORDER BY attnum", (oid,))]
    cols = tuple(Column(n, (renames or {}).get(n, n), "", None, True, "", "") for n in names if n not in left_out)
    return Relation(oid, QualifiedName(schema, name), target or QualifiedName(schema, name), "r", columns=cols,
                    dropped_columns=tuple(left_out))


@pytest.fixture
def run(logical_source, pg_target, target_db):
    """A source with its initial rows, the same rows on the target, a publication and a slot made after
    them (as the snapshot holder's would be), and the plan."""
    n = next(_runs)
    slot, pub = f"pgferry_apply_{n}", f"pgferry_apply_{n}"
    logical_source.recreate_db(SRC_DB)
    with connect(logical_source, SRC_DB) as src, connect(pg_target, target_db) as tgt:
        src.execute(SOURCE_SQL)
        tgt.execute(TARGET_SQL)
        for stmt, params in INITIAL:
            src.execute(stmt, params)
            tgt.execute(stmt, params)
        src.execute("INSERT INTO app.people VALUES (1, 'Ada', 's1'), (2, 'Alan', 's2')")
        tgt.execute("INSERT INTO crm.persons VALUES (1, 'Ada'), (2, 'Alan')")
        # partitions are published (and planned) as the leaf tables that hold the rows
        src.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE app.items, app.nokey, app.people, app.codes, "
                            "app.parted_eu, app.parted_us").format(
            sql.Identifier(pub)))
        src.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        plan = Plan(relations=(
            _relation(src, "app", "items"), _relation(src, "app", "nokey"),
            _relation(src, "app", "people", QualifiedName("crm", "persons"), {"full_name": "name"}, ("secret",)),
            _relation(src, "app", "codes"), _relation(src, "app", "parted_eu"),
            _relation(src, "app", "parted_us")), renamed=True)
    src = connect(logical_source, SRC_DB)
    # the test's writes are flushed when they return (the cluster commits asynchronously), so a batch
    # right after them sees them
    src.execute("SET synchronous_commit = on")
    tgt = connect(pg_target, target_db)
    ap.ensure_bookkeeping(tgt)
    ap.open_target_session(tgt)
    yield ap.ApplyWorker(src, tgt, plan, slot, pub)
    src.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    src.close()
    tgt.close()


def write(worker, *statements):
    """Each statement (or tuple of statements) one source transaction."""
    for stmt in statements:
        with worker.source.transaction():
            for s in (stmt if isinstance(stmt, tuple) else (stmt,)):
                worker.source.execute(s)


def drain(worker, **kw) -> list[ap.BatchResult]:
    out = []
    for _ in range(100):
        out.append(worker.batch(**kw))
        if out[-1].drained:
            return out
    raise AssertionError("the apply never drained the slot in 100 batches")


def assert_same(worker):
    for name, (s, t) in COMPARE.items():
        assert worker.target.execute(t).fetchall() == worker.source.execute(s).fetchall(), name


WORKLOAD = (
    ("INSERT INTO app.items VALUES (10, 10, repeat('n', 9000), 'ten')", "INSERT INTO app.items VALUES (11, 11, NULL, NULL)"),
    "UPDATE app.items SET qty = qty + 100",                    # bodies kept: sent as 'u'
    "UPDATE app.items SET body = repeat('c', 9500) WHERE id = 2",
    "UPDATE app.items SET id = 20 WHERE id = 3",               # a key change: old key sent
    "DELETE FROM app.items WHERE id = 11",
    ("DELETE FROM app.nokey WHERE a = 2", "UPDATE app.nokey SET b = 'one of two' WHERE ctid = (SELECT min(ctid) FROM app.nokey)"),
    "INSERT INTO app.nokey VALUES (3, 'new', '[1, 2]')",
    "UPDATE app.nokey SET j = '{\"k\": 2}' WHERE a = 3",
    ("UPDATE app.people SET full_name = 'Ada L.', secret = 'x' WHERE id = 1", "INSERT INTO app.people VALUES (3, 'Grace', 's3')",
     "DELETE FROM app.people WHERE id = 2"),
    ("UPDATE app.codes SET code = 'c' WHERE code = 'a'", "UPDATE app.codes SET v = 22 WHERE code = 'b'"),
    # a row moved to another partition: a DELETE from one leaf and an INSERT into the other
    ("UPDATE app.parted SET region = 'us' WHERE id = 1", "UPDATE app.parted SET v = 20 WHERE id = 2"),
)


def test_inserts_updates_deletes_applied_with_renames_and_toast(run):
    before = run.target.execute("SELECT id, body FROM app.items WHERE id = 1").fetchone()
    write(run, *WORKLOAD)
    results = drain(run)
    assert sum(r.applied for r in results) == len(WORKLOAD)
    assert_same(run)
    # the unchanged TOASTed body stayed as the target had it; the changed one is the new value
    assert run.target.execute("SELECT id, body FROM app.items WHERE id = 1").fetchone() == before
    assert run.target.execute("SELECT body FROM app.items WHERE id = 2").fetchone() == ("c" * 9500,)
    assert run.target.execute("SELECT qty FROM app.items ORDER BY id").fetchall() == [(101,), (102,), (110,), (103,)]
    # FULL identity: of two identical rows exactly one was updated
    assert run.target.execute("SELECT b FROM app.nokey WHERE a = 1 ORDER BY b").fetchall() == [("dup",), ("one of two",)]
    assert run.target.execute("SELECT * FROM crm.persons ORDER BY id").fetchall() == [(1, "Ada L."), (3, "Grace")]
    # progress is the last commit, and the slot stands at or past its end
    last = results[-1]
    assert last.progress.transactions == len(WORKLOAD)
    assert last.progress.changes == sum(r.changes for r in results) >= len(WORKLOAD)
    assert ap.slot_position(run.source, run.slot) >= last.progress.end_lsn
    # ... with the source's commit time of that last transaction (the lag in seconds counts from it)
    now = run.source.execute("SELECT now()").fetchone()[0]
    assert last.progress.commit_time is not None and now - timedelta(minutes=1) < last.progress.commit_time <= now
    caught_up = run.target.execute(sql.SQL("SELECT caught_up_at FROM {} WHERE slot_name = %s").format(
        ap.PROGRESS.identifier), (run.slot,)).fetchone()[0]
    assert caught_up is not None and caught_up >= last.progress.commit_time


def test_bookkeeping_made_by_an_earlier_pgferry_gets_the_new_columns(run):
    # the progress table as an earlier pgferry made it: no commit_time, caught_up_at, changes
    run.target.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(ap.SCHEMA)))
    run.target.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(ap.SCHEMA)))
    run.target.execute(sql.SQL("CREATE TABLE {} (slot_name text PRIMARY KEY, commit_lsn pg_lsn NOT NULL, "
                               "end_lsn pg_lsn NOT NULL, transactions bigint NOT NULL, applied_at timestamptz "
                               "NOT NULL)").format(ap.PROGRESS.identifier))
    run.target.execute(sql.SQL("INSERT INTO {} VALUES ('pgferry_older_run', '0/10', '0/20', 7, now())").format(
        ap.PROGRESS.identifier))
    ap.ensure_bookkeeping(run.target)
    ap.ensure_bookkeeping(run.target)          # again: a retried apply task
    assert ap.read_progress(run.target, "pgferry_older_run") == ap.Progress(0x10, 0x20, 7, 0, None)
    write(run, "INSERT INTO app.codes VALUES ('n', 1)", "UPDATE app.codes SET v = 2 WHERE code = 'n'")
    drain(run)
    p = ap.read_progress(run.target, run.slot)
    assert (p.transactions, p.changes) == (2, 2) and p.commit_time is not None


def test_truncate_applied(run):
    write(run, "INSERT INTO app.codes VALUES ('z', 26)", "TRUNCATE app.codes, app.nokey",
          "INSERT INTO app.codes VALUES ('y', 25)")
    drain(run)
    assert run.target.execute("SELECT * FROM app.codes").fetchall() == [("y", 25)]
    assert run.target.execute("SELECT count(*) FROM app.nokey").fetchone() == (0,)
    assert_same(run)


def test_a_crash_between_target_commit_and_slot_advance_applies_nothing_twice(run):
    write(run, *WORKLOAD)
    first = drain(run, advance_slot=False)          # killed after the target commit, before the advance
    applied = run.target.execute("SELECT count(*) FROM app.nokey").fetchone()
    assert sum(r.applied for r in first) == len(WORKLOAD)
    again = run.batch()                             # a new worker peeks the same transactions again
    assert again.peeked == len(WORKLOAD) and again.applied == 0
    assert run.target.execute("SELECT count(*) FROM app.nokey").fetchone() == applied   # no duplicate rows
    assert_same(run)
    # later writes still go on from there
    write(run, "INSERT INTO app.nokey VALUES (9, 'after', NULL)")
    later = drain(run)
    assert sum(r.applied for r in later) == 1
    assert_same(run)


def test_batches_of_whole_transactions(run):
    write(run, *[f"INSERT INTO app.items SELECT g, g, NULL, 'batch' FROM generate_series({i}, {i + 9}) g"
                 for i in range(100, 200, 10)])
    results = drain(run.__class__(run.source, run.target, run.plan, run.slot, run.publication, max_changes=25))
    assert len(results) > 2 and sum(r.applied for r in results) == 10
    assert_same(run)


def test_drift_fails_the_batch_and_applies_none_of_it(run):
    write(run, "INSERT INTO app.items VALUES (30, 30, NULL, NULL)", "UPDATE app.items SET qty = 0 WHERE id = 2")
    run.target.execute("SET session_replication_role = origin")
    run.target.execute("DELETE FROM app.items WHERE id = 2")     # the target lost a row the source changes
    run.target.execute("SET session_replication_role = replica")
    with pytest.raises(ap.ApplyError, match=r"UPDATE of app.items found 0 row\(s\).*drifted"):
        run.batch()
    assert run.target.execute("SELECT count(*) FROM app.items WHERE id = 30").fetchone() == (0,)
    assert ap.read_progress(run.target, run.slot) is None or ap.read_progress(run.target, run.slot).transactions == 0


def test_changes_of_a_table_outside_the_plan_are_refused(run):
    run.source.execute(sql.SQL("ALTER PUBLICATION {} ADD TABLE app.other").format(sql.Identifier(run.publication)))
    write(run, "INSERT INTO app.other VALUES (1)")
    with pytest.raises(ap.ApplyError, match="app.other .* which this run does not migrate"):
        run.batch()


def test_a_column_added_on_the_source_is_refused(run):
    run.source.execute("ALTER TABLE app.codes ADD COLUMN extra int")
    write(run, "INSERT INTO app.codes VALUES ('q', 1, 2)")
    with pytest.raises(ap.ApplyError, match="column 'extra' the run's plan does not know"):
        run.batch()


def test_a_batch_that_fails_midway_leaves_nothing_and_its_retry_applies_it_all(run):
    # a target-side failure in the middle of a batch (an ALWAYS trigger fires even under replica role)
    run.target.execute("""CREATE FUNCTION app.refuse() RETURNS trigger LANGUAGE plpgsql AS
        $$BEGIN IF NEW.qty = 77 THEN RAISE EXCEPTION 'refused 77'; END IF; RETURN NEW; END$$""")
    run.target.execute("CREATE TRIGGER refuse BEFORE INSERT ON app.items FOR EACH ROW EXECUTE FUNCTION app.refuse()")
    run.target.execute("ALTER TABLE app.items ENABLE ALWAYS TRIGGER refuse")
    write(run, "INSERT INTO app.nokey VALUES (5, 'first', NULL)", "INSERT INTO app.items VALUES (77, 77, NULL, NULL)",
          "INSERT INTO app.nokey VALUES (6, 'third', NULL)")
    before = run.target.execute("SELECT count(*) FROM app.nokey").fetchone()
    with pytest.raises(Exception, match="refused 77"):
        run.batch()
    # the whole batch rolled back: not even the transaction before the failing one is there
    assert run.target.execute("SELECT count(*) FROM app.nokey").fetchone() == before
    assert ap.read_progress(run.target, run.slot) is None
    run.target.execute("DROP TRIGGER refuse ON app.items")
    drain(run)
    assert_same(run)


KILLED_WORKER = """
import sys, psycopg
from include.pgferry.model import Plan
from include.pgferry.online import apply as ap
import json
src_dsn, tgt_dsn, slot, pub, plan = sys.argv[1:6]
opts = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3"
src = psycopg.connect(src_dsn, autocommit=True, connect_timeout=10, options=opts)
tgt = psycopg.connect(tgt_dsn, autocommit=True, connect_timeout=10, options=opts)
ap.open_target_session(tgt)
worker = ap.ApplyWorker(src, tgt, Plan.from_xcom(json.loads(plan)), slot, pub, max_changes=50)
for _ in range(10_000):
    print(worker.batch().applied, flush=True)
"""


def test_an_apply_process_killed_anywhere_loses_and_repeats_nothing(run, logical_source, pg_target, target_db):
    write(run, *[(f"INSERT INTO app.nokey SELECT g, 'k{i}', NULL FROM generate_series(1, 5) g",
                  f"UPDATE app.items SET qty = qty + 1 WHERE id = {1 + i % 2}") for i in range(300)])
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, logical_source.dsn(SRC_DB), pg_target.dsn(target_db),
                             run.slot, run.publication, json.dumps(run.plan.to_xcom())],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # SIGKILL once it has applied some batches: wherever it is (mid-batch, between commit and advance)
    seen = 0
    for line in proc.stdout:
        seen += int(line)
        if seen >= 60:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert 0 < seen < 300, "the kill must land while work remains"
    sl.wait_released(run.source, run.slot)          # the killed peek's backend lets the slot go
    drain(run)
    assert_same(run)
    assert ap.read_progress(run.target, run.slot).transactions == 300


def test_the_apply_loop_follows_until_the_freeze_point(run):
    from include.pgferry.online import follow
    write(run, *WORKLOAD)
    looks = {"n": 0, "freeze": None}

    def freeze_lsn():
        # the cutover freezes the source on the third look, after one more write
        looks["n"] += 1
        if looks["n"] == 3:
            write(run, "INSERT INTO app.codes VALUES ('frozen', 0)")
            looks["freeze"] = follow.current_lsn(run.source)
        return looks["freeze"]
    seen = []
    out = follow.follow_until_freeze(run, freeze_lsn, max_batches=1000, pause=lambda: None, on_batch=seen.append)
    assert out["freeze_lsn"] == ap.po.lsn_text(looks["freeze"]) and out["applied"] == len(WORKLOAD) + 1
    # the counts over every try, from the progress row (the run report shows them)
    assert out["transactions"] == len(WORKLOAD) + 1 and out["row_changes"] > len(WORKLOAD)
    assert seen[-1].confirmed_lsn >= looks["freeze"] and seen[-1].lag_bytes >= 0
    assert_same(run)
    with pytest.raises(follow.FollowError, match="without reaching the freeze point"):
        follow.follow_until_freeze(run, lambda: None, max_batches=3, pause=lambda: None)
