"""The online starting point on a real source: the exported snapshot, its permanent slot copy, the holder's
death, the bounded slot creation, and the cleanup."""
from __future__ import annotations

import subprocess

import psycopg
import pytest

from include.pgferry.model import QualifiedName
from include.pgferry.online import apply as ap
from include.pgferry.online import slot as sl
from include.pgferry.pg.catalog import fetch_one
from localstack.pgcluster import pg_bindir
from tests.online.conftest import connect
from tests.online.test_apply import _relation

pytestmark = pytest.mark.integration

DB = "slotsrc"
T = QualifiedName("app", "t")


@pytest.fixture
def source(logical_source):
    logical_source.recreate_db(DB)
    with connect(logical_source, DB) as c:
        c.execute("CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text)")
        c.execute("INSERT INTO app.t SELECT g, 'before ' || g FROM generate_series(1, 3) g")
        c.execute("SET synchronous_commit = on")   # writes flushed when they return: decodable at once
        yield c
        for row in c.execute("SELECT slot_name FROM pg_replication_slots WHERE database = %s", (DB,)).fetchall():
            sl._drop_slot(c, row[0])


def holder_for(cluster, names, **kw):
    return sl.SnapshotHolder(lambda: psycopg.connect(cluster.dsn(DB), replication="database", autocommit=True,
                                                     connect_timeout=10), names.temporary_slot, **kw)


def slot(conn, name):
    return fetch_one(conn, "show_replication_slot", slot=name)


def test_the_snapshot_and_the_permanent_slot_meet_exactly(logical_source, pg_target, target_db, source):
    names = sl.RunNames.of("postgres_online_migration", "manual__1")
    sl.create_publication(source, names.publication, [T])
    sl.create_publication(source, names.publication, [T])     # a retry sets the list again
    with holder_for(logical_source, names) as holder:
        exported = holder.exported
        assert slot(source, names.temporary_slot)["temporary"]
        source.execute("INSERT INTO app.t VALUES (4, 'after')")
        source.execute("UPDATE app.t SET v = 'changed' WHERE id = 1")
        # a reader under the snapshot sees the rows as of the slot's consistent point
        with connect(logical_source, DB) as reader:
            sl.import_snapshot(reader, exported.snapshot)
            assert reader.execute("SELECT id, v FROM app.t ORDER BY id").fetchall() == [
                (1, "before 1"), (2, "before 2"), (3, "before 3")]
            with connect(pg_target, target_db) as tgt:      # the load: COPY under the snapshot
                tgt.execute("CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text)")
                with reader.cursor().copy("COPY app.t TO STDOUT") as out, \
                        tgt.cursor().copy("COPY app.t FROM STDIN") as into:
                    for block in out:
                        into.write(block)
            reader.execute("COMMIT")
        # pg_dump reads the same snapshot
        dumped = subprocess.run([str(pg_bindir() / "pg_dump"), "--snapshot", exported.snapshot, "--data-only",
                                 "--table", "app.t", "-d", logical_source.dsn(DB)], capture_output=True, text=True,
                                check=True, timeout=60).stdout
        assert "before 1" in dumped and "after" not in dumped and "changed" not in dumped
        lsn = sl.copy_to_permanent(source, exported, names.slot)
        assert lsn == exported.consistent_lsn
    # the holder closed: its temporary slot is gone, the permanent copy stays where it was made
    assert sl.wait_released(source, names.temporary_slot) is None
    permanent = slot(source, names.slot)
    assert not permanent["temporary"] and permanent["confirmed_flush_lsn"] == ap.po.lsn_text(exported.consistent_lsn)
    # the apply from the permanent slot brings exactly what the snapshot did not have
    with connect(pg_target, target_db) as tgt:
        ap.ensure_bookkeeping(tgt)
        ap.open_target_session(tgt)
        plan = ap.Plan(relations=(_relation(source, "app", "t"),))
        result = ap.ApplyWorker(source, tgt, plan, names.slot, names.publication).batch()
        assert result.applied == 2
        assert tgt.execute("SELECT id, v FROM app.t ORDER BY id").fetchall() == \
            source.execute("SELECT id, v FROM app.t ORDER BY id").fetchall()
        assert len(tgt.execute("SELECT * FROM app.t").fetchall()) == 4
        removed = sl.cleanup(source, tgt, names)
        assert removed == {"subscription": False, "slots": [names.slot], "publication": True, "bookkeeping": True}
        assert fetch_one(tgt, "list_existing_schemas", schemas=[ap.SCHEMA]) is None
        # again: nothing left to remove, and no error
        assert sl.cleanup(source, tgt, names) == {"subscription": False, "slots": [], "publication": False,
                                                  "bookkeeping": False}
    assert slot(source, names.slot) is None and fetch_one(source, "find_publication", name=names.publication) is None


def test_a_dead_holder_leaves_no_slot_and_readers_are_told_to_clear_the_load(logical_source, source):
    names = sl.RunNames.of("postgres_online_migration", "manual__2")
    holder = holder_for(logical_source, names)
    exported = holder.open()
    assert slot(source, names.temporary_slot) is not None
    holder.close()
    assert sl.wait_released(source, names.temporary_slot) is None
    with connect(logical_source, DB) as reader:
        with pytest.raises(sl.SlotError, match="clear the whole online_load group"):
            sl.import_snapshot(reader, exported.snapshot)
        assert reader.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_cleanup_ends_a_live_holder_and_replaces_a_stale_copy(logical_source, pg_target, target_db, source):
    names = sl.RunNames.of("postgres_online_migration", "manual__3")
    sl.create_publication(source, names.publication, [T])
    first = holder_for(logical_source, names)
    sl.copy_to_permanent(source, first.open(), names.slot)
    first.close()
    sl.wait_released(source, names.temporary_slot)      # a retried holder makes the same temporary slot
    source.execute("INSERT INTO app.t VALUES (5, 'between')")
    second = holder_for(logical_source, names)
    exported = second.open()
    # the copy an earlier try left starts at the first snapshot: it is made again at the second's
    assert sl.copy_to_permanent(source, exported, names.slot) == exported.consistent_lsn
    with connect(pg_target, target_db) as tgt:
        removed = sl.cleanup(source, tgt, names)
    assert removed["slots"] == [names.temporary_slot, names.slot]
    with pytest.raises(psycopg.OperationalError):       # the holder's session was ended
        second.conn.execute("SELECT 1")
    second.close()
    assert slot(source, names.temporary_slot) is None and slot(source, names.slot) is None


def test_slot_creation_is_bounded_by_a_running_transaction(logical_source, source):
    names = sl.RunNames.of("postgres_online_migration", "manual__4")
    with connect(logical_source, DB, autocommit=False) as blocker:
        blocker.execute("INSERT INTO app.t VALUES (6, 'open')")      # holds an xid until it ends
        with pytest.raises(sl.SlotError, match="waited more than 1 s for transactions running"):
            holder_for(logical_source, names, create_timeout_s=1).open()
        blocker.rollback()
    assert slot(source, names.temporary_slot) is None


def test_run_names_fit_and_differ():
    a, b = sl.RunNames.of("d", "manual__2026-12-06T00:00:00+00:00"), sl.RunNames.of("d", "manual__2")
    assert a.slot != b.slot and a.slot.startswith("pgferry_") and a.temporary_slot == a.slot + "_tmp"
    assert all(len(n) < 64 and n == n.lower() for n in (a.slot, a.temporary_slot, a.publication))
