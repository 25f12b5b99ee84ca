"""The online engine end to end, without Airflow: a pgbench writer keeps writing to the source while the
run's starting point is made, the structure and data are loaded under the exported snapshot, and the apply
follows; the writer stops (the freeze), the apply goes through the freeze LSN, and every table is the same
on both sides. Then the cleanup leaves nothing behind."""
from __future__ import annotations

import subprocess
import time

import psycopg
import pytest

from include.pgferry.model import Plan
from include.pgferry.online import apply as ap
from include.pgferry.online import follow
from include.pgferry.online import precheck as pc
from include.pgferry.online import slot as sl
from include.pgferry.pg.catalog import fetch_one
from localstack.pgcluster import pg_bindir
from tests.online.conftest import connect
from tests.online.test_apply import _relation

pytestmark = pytest.mark.integration

DB = "follow_src"
SOURCE_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.docs (id bigserial PRIMARY KEY, n int NOT NULL, body text);
ALTER TABLE app.docs ALTER body SET STORAGE EXTERNAL;
INSERT INTO app.docs (n, body) SELECT 0, repeat(md5(g::text), 300) FROM generate_series(1, 50) g;
CREATE TABLE app.events (kind text, n int);
ALTER TABLE app.events REPLICA IDENTITY FULL;
INSERT INTO app.events SELECT 'seed', g FROM generate_series(1, 20) g;
"""
# each transaction: a TOASTed insert, an update that keeps the body ('u'), one that changes it, a delete,
# FULL-identity writes, a pgbench account update and a sequence step
WRITER = r"""
\set id random(1, 100000)
BEGIN;
INSERT INTO app.docs (n, body) VALUES (0, repeat(md5(:id::text), 300));
UPDATE app.docs SET n = n + 1 WHERE id = (SELECT max(id) - 3 FROM app.docs);
UPDATE app.docs SET body = repeat(md5((:id + 1)::text), 310) WHERE id = (SELECT max(id) - 7 FROM app.docs);
DELETE FROM app.docs WHERE id = (SELECT min(id) FROM app.docs);
INSERT INTO app.events VALUES ('w', :id);
DELETE FROM app.events WHERE ctid = (SELECT min(ctid) FROM app.events WHERE kind = 'w');
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :id % 100000 + 1;
SELECT nextval('app.docs_id_seq');
END;
"""
MAX_FOLLOW_BATCHES = 100_000
TABLES = ["app.docs", "app.events", "public.pgbench_accounts", "public.pgbench_branches",
          "public.pgbench_tellers", "public.pgbench_history"]


def fingerprint(conn, table):
    return conn.execute(f"SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t").fetchone()


def pgbench(cluster, log, *args):
    """pgbench in the background; its output goes to a file (a pipe nobody reads would stall it)."""
    out = open(log, "w")
    return subprocess.Popen([str(pg_bindir() / "pgbench"), *args, cluster.dsn(DB)], stdout=out,
                            stderr=subprocess.STDOUT, text=True)


def load_under_snapshot(cluster, target, target_db, names, plan, src) -> int:
    """Publication, holder, structure and rows under its snapshot, the permanent slot; the snapshot's max docs id."""
    sl.create_publication(src, names.publication, pc.publishable(pc.Context(src, plan)))
    holder = sl.SnapshotHolder(lambda: psycopg.connect(cluster.dsn(DB), replication="database", autocommit=True,
                                                       connect_timeout=10), names.temporary_slot, create_timeout_s=60)
    exported = holder.open()
    try:
        dump = subprocess.run([str(pg_bindir() / "pg_dump"), "--snapshot", exported.snapshot, "--schema-only",
                               "--no-publications", "-d", cluster.dsn(DB)],
                              capture_output=True, text=True, check=True, timeout=120).stdout
        subprocess.run([str(pg_bindir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target.dsn(target_db)],
                       input=dump, capture_output=True, text=True, check=True, timeout=120)
        with connect(cluster, DB) as reader, connect(target, target_db) as tgt:
            sl.import_snapshot(reader, exported.snapshot)
            snapshot_max_id = reader.execute("SELECT max(id) FROM app.docs").fetchone()[0]
            for table in TABLES:
                with reader.cursor().copy(f"COPY {table} TO STDOUT") as out, \
                        tgt.cursor().copy(f"COPY {table} FROM STDIN") as into:
                    for block in out:
                        into.write(block)
            reader.execute("COMMIT")
        sl.copy_to_permanent(src, exported, names.slot)
    finally:
        holder.close()
    return snapshot_max_id


def test_a_live_writer_ends_identical_on_both_sides(logical_source, pg_target, target_db, tmp_path):
    logical_source.recreate_db(DB)
    init = pgbench(logical_source, tmp_path / "init.log", "-i", "-q", "-s", "1")
    assert init.wait(timeout=120) == 0, (tmp_path / "init.log").read_text()
    src = connect(logical_source, DB)
    src.execute(SOURCE_SQL)
    src.execute("ALTER TABLE pgbench_history REPLICA IDENTITY FULL")    # pgbench's history has no key
    plan = Plan(relations=tuple(_relation(src, *t.split(".")) for t in TABLES))
    ctx = pc.Context(src, plan)
    assert [f for f in pc.online_findings(ctx) if f.blocking] == []
    names = sl.RunNames.of("postgres_online_migration", "follow__1")
    script = tmp_path / "writer.sql"
    script.write_text(WRITER)
    # the writer runs before the starting point is made and through the load and the apply
    writer = pgbench(logical_source, tmp_path / "writer.log", "-n", "-c", "1", "-j", "1", "-t", "1500", "-R", "500", "-f", str(script))
    try:
        snapshot_max_id = load_under_snapshot(logical_source, pg_target, target_db, names, plan, src)
        # writes the test knows happened after the starting point, whatever the writer's pace
        src.execute("SET synchronous_commit = on")
        src.execute("INSERT INTO app.events VALUES ('marker', -1)")
        tgt = connect(pg_target, target_db)
        ap.ensure_bookkeeping(tgt)
        ap.open_target_session(tgt)
        worker = ap.ApplyWorker(src, tgt, plan, names.slot, names.publication, max_changes=2000)
        applied = 0
        for _ in range(MAX_FOLLOW_BATCHES):   # follow while the writer writes
            if writer.poll() is not None:
                break
            applied += worker.batch().applied
        assert writer.wait(timeout=300) == 0, (tmp_path / "writer.log").read_text()
        # the freeze: no more writes; everything up to here must reach the target
        freeze = follow.current_lsn(src)
        # an asynchronous last commit may not be flushed yet: decoding waits for the WAL writer
        applied += follow.apply_through(worker, freeze, max_batches=1000, pause=lambda: time.sleep(0.05))
        state = follow.slot_state(src, names.slot)
        assert state.confirmed_lsn >= freeze and state.wal_status in ("reserved", "extended")
        for table in TABLES:
            assert fingerprint(tgt, table) == fingerprint(src, table), table
        # not vacuous: changes after the starting point were applied, TOASTed ones among them
        assert applied > 1 and fingerprint(tgt, "app.docs")[0] == 50
        assert tgt.execute("SELECT count(*) FROM app.events WHERE kind = 'marker'").fetchone() == (1,)
        # the writer's rows made after the starting point (it writes for 3 s or more at -R 500)
        assert tgt.execute("SELECT count(*) FROM app.docs WHERE id > %s", (snapshot_max_id,)).fetchone()[0] > 0
        sl.cleanup(src, tgt, names)
        assert fetch_one(src, "show_replication_slot", slot=names.slot) is None
        tgt.close()
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
        sl.cleanup(src, None, names)
        src.close()
