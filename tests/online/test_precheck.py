"""The online prechecks against real servers: each check broken on purpose, its finding and fix asserted,
then (where it can be) fixed and seen to pass."""
from __future__ import annotations

import threading

import pytest

from include.pgferry.checks.findings import ERROR, WARNING
from include.pgferry.model import Plan
from include.pgferry.online import precheck as pc
from tests.online.conftest import connect
from tests.online.test_apply import _relation

pytestmark = pytest.mark.integration

DB = "pre_online"
SOURCE_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.keyed (id int PRIMARY KEY, v text);
CREATE TABLE app.full_t (a int, b text);
ALTER TABLE app.full_t REPLICA IDENTITY FULL;
CREATE TABLE app.idx_t (code text NOT NULL, v int);
CREATE UNIQUE INDEX idx_t_code ON app.idx_t (code);
ALTER TABLE app.idx_t REPLICA IDENTITY USING INDEX idx_t_code;
CREATE TABLE app.nokey (a int, b text);
CREATE TABLE app.nothing_t (id int PRIMARY KEY);
ALTER TABLE app.nothing_t REPLICA IDENTITY NOTHING;
CREATE UNLOGGED TABLE app.scratch (id int PRIMARY KEY);
"""
GOOD = ("keyed", "full_t", "idx_t")


@pytest.fixture(scope="module")
def source_db(logical_source):
    logical_source.recreate_db(DB)
    with connect(logical_source, DB) as c:
        c.execute(SOURCE_SQL)
    return DB


def plan_of(conn, *tables) -> Plan:
    return Plan(relations=tuple(_relation(conn, "app", t) for t in tables))


def findings(conn, *tables, target=None, run_slots=()):
    return pc.online_findings(pc.Context(conn, plan_of(conn, *tables), target, run_slots))


def by_check(found, check):
    return [f for f in found if f.check == check]


def test_a_ready_source_passes_every_check(logical_source, pg_target, source_db):
    with connect(logical_source, source_db) as src, connect(pg_target, "postgres") as tgt:
        assert findings(src, *GOOD, target=tgt) == []


def test_a_table_without_replica_identity_is_refused_with_the_fixing_statement(logical_source, source_db):
    with connect(logical_source, source_db) as src:
        found = by_check(findings(src, *GOOD, "nokey", "nothing_t"), "replica identity")
        assert [f.level for f in found] == [ERROR, ERROR]
        nokey = next(f for f in found if "app.nokey" in f.message)
        assert "has no primary key" in nokey.message and "would fail on the source" in nokey.message
        assert "ALTER TABLE app.nokey REPLICA IDENTITY FULL" in nokey.fix and "ADD PRIMARY KEY" in nokey.fix
        assert "REPLICA IDENTITY NOTHING" in next(f for f in found if "app.nothing_t" in f.message).message
        # the fix it names works
        src.execute("ALTER TABLE app.nokey REPLICA IDENTITY FULL")
        try:
            assert [f.message for f in by_check(findings(src, "nokey"), "replica identity")] == []
        finally:
            src.execute("ALTER TABLE app.nokey REPLICA IDENTITY DEFAULT")


def test_wal_level_not_logical_is_refused(pg_source):
    # the session's ordinary cluster runs with the default wal_level = replica
    pg_source.recreate_db(DB)
    with connect(pg_source, DB) as src:
        src.execute("CREATE TABLE t (id int PRIMARY KEY)")
        found = pc.online_findings(pc.Context(src, Plan(relations=(_relation(src, "public", "t"),))))
    assert [(f.level, f.message, f.fix) for f in by_check(found, "logical decoding")] == [
        (ERROR, "wal_level is replica: the source does not write the WAL logical decoding reads",
         "ALTER SYSTEM SET wal_level = logical; then restart the source server")]


def test_a_user_without_replication_privilege_is_refused(logical_source, source_db):
    with connect(logical_source, source_db) as admin:
        admin.execute("DROP ROLE IF EXISTS plain_user")
        admin.execute("CREATE ROLE plain_user LOGIN")
        admin.execute("GRANT USAGE ON SCHEMA app TO plain_user")
        try:
            with connect(logical_source, source_db, user="plain_user") as src:
                found = by_check(findings(src, *GOOD), "replication privilege")
                assert [f.fix for f in found] == [
                    'ALTER ROLE plain_user WITH REPLICATION',
                    f'GRANT CREATE ON DATABASE {DB} TO plain_user',
                    'run as the tables\' owner (postgres), or GRANT that role TO plain_user']
                assert "lacks the REPLICATION attribute" in found[0].message
            admin.execute("ALTER ROLE plain_user WITH REPLICATION")
            admin.execute(f"GRANT CREATE ON DATABASE {DB} TO plain_user")
            admin.execute("GRANT postgres TO plain_user")
            with connect(logical_source, source_db, user="plain_user") as src:
                assert by_check(findings(src, *GOOD), "replication privilege") == []
        finally:
            admin.execute(f"REVOKE CREATE ON DATABASE {DB} FROM plain_user")
            admin.execute("REVOKE postgres FROM plain_user")
            admin.execute("DROP OWNED BY plain_user")
            admin.execute("DROP ROLE plain_user")


def test_no_free_slot_is_refused(logical_source, source_db):
    with connect(logical_source, source_db) as src:
        limit, used = src.execute("SELECT current_setting('max_replication_slots')::int, "
                                  "(SELECT count(*) FROM pg_replication_slots)::int").fetchone()
        fillers = [f"filler_{i}" for i in range(limit - used - 1)]      # leaves one free; two are needed
        for name in fillers:
            src.execute("SELECT pg_create_physical_replication_slot(%s)", (name,))
        try:
            found = by_check(findings(src, *GOOD), "replication capacity")
            assert [f.message for f in found] == [f"1 of max_replication_slots = {limit} free; an online run needs 2"]
        finally:
            for name in fillers:
                src.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def test_unlogged_tables_large_objects_and_leftover_slots_are_warned(logical_source, source_db):
    with connect(logical_source, source_db) as src:
        src.execute("SELECT pg_create_logical_replication_slot('pgferry_0ldrun00', 'pgoutput')")
        src.execute("SELECT pg_create_logical_replication_slot('pgferry_th1srun0', 'pgoutput')")
        lo = src.execute("SELECT lo_from_bytea(0, 'blob')").fetchone()[0]
        try:
            found = findings(src, *GOOD, "scratch", run_slots=("pgferry_th1srun0",))
            assert {f.check for f in found} == {"unlogged tables", "large objects", "leftover slots"}
            assert all(f.level == WARNING for f in found)
            assert "app.scratch are unlogged" in by_check(found, "unlogged tables")[0].message
            assert "1 large object(s)" in by_check(found, "large objects")[0].message
            left = by_check(found, "leftover slots")[0]
            assert "pgferry_0ldrun00 (database pre_online, idle" in left.message and "th1s" not in left.message
            assert left.fix.startswith("SELECT pg_drop_replication_slot('pgferry_0ldrun00')")
            # the publication leaves the unlogged table out (CREATE PUBLICATION refuses it)
            ctx = pc.Context(src, plan_of(src, "keyed", "scratch"))
            assert [str(q) for q in pc.publishable(ctx)] == ["app.keyed"]
        finally:
            src.execute("SELECT lo_unlink(%s)", (lo,))
            for s in ("pgferry_0ldrun00", "pgferry_th1srun0"):
                src.execute("SELECT pg_drop_replication_slot(%s)", (s,))


def test_a_target_user_that_cannot_switch_off_triggers_is_refused(logical_source, pg_target, source_db):
    with connect(pg_target, "postgres") as admin:
        admin.execute("DROP ROLE IF EXISTS plain_target")
        admin.execute("CREATE ROLE plain_target LOGIN")
        try:
            with connect(logical_source, source_db) as src, connect(pg_target, "postgres", user="plain_target") as tgt:
                found = by_check(findings(src, *GOOD, target=tgt), "apply privilege")
                assert len(found) == 1 and "may not set session_replication_role" in found[0].message
                assert "GRANT SET ON PARAMETER session_replication_role TO plain_target" in found[0].fix
            admin.execute("GRANT SET ON PARAMETER session_replication_role TO plain_target")
            with connect(logical_source, source_db) as src, connect(pg_target, "postgres", user="plain_target") as tgt:
                assert by_check(findings(src, *GOOD, target=tgt), "apply privilege") == []
        finally:
            admin.execute("REVOKE SET ON PARAMETER session_replication_role FROM plain_target")
            admin.execute("DROP ROLE plain_target")


def test_the_retained_wal_estimate_samples_a_source_that_takes_writes(logical_source, source_db):
    """A writer fills the WAL during the sample: over the cap it warns, on a server whose free storage is
    not visible from here it says so (CloudWatch on RDS), and within the free space of a local pg_wal it is
    silent. Never an error."""
    stop = threading.Event()

    def writer():
        with connect(logical_source, source_db) as w:
            w.execute("CREATE TABLE IF NOT EXISTS app.churn (id bigint, v text)")
            while not stop.is_set():
                w.execute("INSERT INTO app.churn SELECT g, md5(g::text) FROM generate_series(1, 2000) g")
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with connect(logical_source, source_db) as src:
            def estimate(**kw):
                ctx = pc.Context(src, plan_of(src, *GOOD), wal_sample_s=1.5, **kw)
                found = pc.online_findings(ctx)
                assert [f.check for f in found] == ["retained WAL"] * len(found) and {f.level for f in found} <= {
                    WARNING}
                return found
            [capped] = estimate(max_retained_wal_bytes=1, source_host="127.0.0.1")
            rate = float(capped.message.split("the source wrote ")[1].split(" MB/s")[0])
            assert rate > 0, capped.message
            assert "over a 1.5 s sample" in capped.message and "more than max_retained_wal_bytes" in capped.message
            [unseen] = estimate(source_host="db.example.com")
            assert "on RDS/Aurora: check FreeStorageSpace in CloudWatch" in unseen.message
            assert estimate(source_host="127.0.0.1") == []      # the data's size is small: well within the disk
    finally:
        stop.set()
        thread.join(timeout=30)
        with connect(logical_source, source_db) as c:
            c.execute("DROP TABLE IF EXISTS app.churn")


def sub_findings(src, tgt, *tables, plan=None, has_password=True):
    plan = plan or plan_of(src, *tables)
    return pc.online_findings(pc.Context(src, plan, tgt, engine="subscription", source_has_password=has_password))


def test_the_subscription_engine_refuses_renames_and_left_out_columns_with_the_fix(logical_source, pg_target,
                                                                                  source_db):
    from include.pgferry.model import QualifiedName
    from tests.online.test_apply import _relation
    with connect(logical_source, source_db) as src, connect(pg_target, "postgres") as tgt:
        plan = Plan(relations=(_relation(src, "app", "keyed", target=QualifiedName("crm", "keyed")),
                               _relation(src, "app", "full_t", renames={"b": "body"}),
                               _relation(src, "app", "idx_t", left_out=("v",))))
        found = by_check(sub_findings(src, tgt, plan=plan), "subscription selection")
        assert [f.level for f in found] == [ERROR, ERROR]
        assert "cannot apply renames" in found[0].message
        assert "app.keyed -> crm.keyed" in found[0].message and "app.full_t.b -> body" in found[0].message
        assert "choose apply_engine pgferry" in found[0].fix and "Param rename" in found[0].fix
        assert "cannot leave columns out" in found[1].message and "app.idx_t.v" in found[1].message
        # pgferry's own apply takes the same selection
        assert by_check(pc.online_findings(pc.Context(src, plan, tgt)), "subscription selection") == []
        # and the subscription engine takes it without renames
        assert by_check(sub_findings(src, tgt, *GOOD), "subscription selection") == []


def test_the_subscription_engine_refuses_a_target_user_that_cannot_create_subscriptions(logical_source, pg_target,
                                                                                        source_db):
    with connect(pg_target, "postgres") as admin:
        admin.execute("DROP ROLE IF EXISTS plain_subscriber")
        admin.execute("CREATE ROLE plain_subscriber LOGIN")
        try:
            with connect(logical_source, source_db) as src, \
                    connect(pg_target, "postgres", user="plain_subscriber") as tgt:
                found = by_check(sub_findings(src, tgt, *GOOD), "subscription privilege")
                assert len(found) == 1 and found[0].level == ERROR
                assert "the target user plain_subscriber may not CREATE SUBSCRIPTION" in found[0].message
                if tgt.info.server_version >= 160000:
                    assert "GRANT pg_create_subscription TO plain_subscriber" in found[0].fix
                else:
                    assert "before PostgreSQL 16 only a superuser may" in found[0].message
                    assert "superuser" in found[0].fix and "apply_engine pgferry" in found[0].fix
                # the subscription engine does not need session_replication_role for its session
                assert by_check(sub_findings(src, tgt, *GOOD), "apply privilege") == []
                # pgferry's engine does not need CREATE SUBSCRIPTION
                assert by_check(pc.online_findings(pc.Context(src, plan_of(src, *GOOD), tgt)),
                                "subscription privilege") == []
            # the fix it names works (a superuser, on this version)
            admin.execute("ALTER ROLE plain_subscriber SUPERUSER")
            with connect(logical_source, source_db) as src, \
                    connect(pg_target, "postgres", user="plain_subscriber") as tgt:
                assert by_check(sub_findings(src, tgt, *GOOD, has_password=False), "subscription privilege") == []
        finally:
            admin.execute("DROP ROLE plain_subscriber")
