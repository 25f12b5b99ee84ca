"""apply_engine "subscription" against two real clusters, without Airflow: the load made under the run's exported
snapshot as in test_follow_with_writer, then a native subscription on the target attached to the run's slot
follows a live pgbench writer; at the freeze it confirms the freeze LSN, is removed, and every table is the
same on both sides. The target reaches the source on 127.0.0.1 (trust auth: a conninfo without password).
Also: a retried create finds the same subscription and refuses another run's, a target that cannot reach the
source fails naming the address, and a worker that cannot connect fails the bounded wait clearly."""
from __future__ import annotations

import socket
import subprocess
import time

import psycopg
import pytest

from include.pgferry.model import Plan
from include.pgferry.online import follow
from include.pgferry.online import precheck as pc
from include.pgferry.online import slot as sl
from include.pgferry.online import subscription as sub
from include.pgferry.online.lag_trigger import lag_verdict
from include.pgferry.pg.catalog import fetch_one
from include.pgferry.pg.endpoint import PgEndpoint
from localstack.pgcluster import pg_bindir
from tests.online.conftest import connect
from tests.online.test_apply import _relation
from tests.online.test_follow_with_writer import (SOURCE_SQL, TABLES, WRITER, fingerprint, load_under_snapshot,
                                                 pgbench)

pytestmark = pytest.mark.integration

DB = "follow_src"       # test_follow_with_writer's pgbench() runs against this database


def source_endpoint(cluster, db) -> PgEndpoint:
    return PgEndpoint("src", "127.0.0.1", cluster.port, db, "postgres")


def test_a_subscription_follows_a_live_writer_and_ends_identical(logical_source, pg_target, target_db, tmp_path):
    logical_source.recreate_db(DB)
    init = pgbench(logical_source, tmp_path / "init.log", "-i", "-q", "-s", "1")
    assert init.wait(timeout=120) == 0, (tmp_path / "init.log").read_text()
    src = connect(logical_source, DB)
    tgt = None
    src.execute(SOURCE_SQL)
    src.execute("ALTER TABLE pgbench_history REPLICA IDENTITY FULL")
    plan = Plan(relations=tuple(_relation(src, *t.split(".")) for t in TABLES))
    names = sl.RunNames.of("postgres_online_migration", "subscription__1")
    address = sub.source_params(source_endpoint(logical_source, DB))
    assert "password" not in address          # trust auth: the target connects without one
    script = tmp_path / "writer.sql"
    script.write_text(WRITER)
    writer = pgbench(logical_source, tmp_path / "writer.log", "-n", "-c", "1", "-j", "1", "-t", "1500", "-R", "500",
                     "-f", str(script))
    try:
        snapshot_max_id = load_under_snapshot(logical_source, pg_target, target_db, names, plan, src)
        start_lsn = follow.slot_state(src, names.slot).confirmed_lsn
        src.execute("SET synchronous_commit = on")
        src.execute("INSERT INTO app.events VALUES ('marker', -1)")     # a write known to follow the snapshot
        tgt = connect(pg_target, target_db)
        assert sub.create(tgt, names.subscription, address, names.publication, names.slot) == "created"
        running = sub.wait_running(src, tgt, names.subscription, names.slot, address, timeout_s=60)
        assert running["worker_pid"] and running["source_pid"]
        # a retry of the step finds it (same publication and slot), and refuses a subscription of that name
        # that reads anything else
        assert sub.create(tgt, names.subscription, address, names.publication, names.slot) == "found"
        with pytest.raises(sub.SubscriptionError, match=f"a subscription {names.subscription} already exists on the "
                                                        f"target, but it reads publication.*not this run's"):
            sub.create(tgt, names.subscription, address, "pgferry_other", names.slot)
        # it follows while the writer writes
        assert writer.wait(timeout=300) == 0, (tmp_path / "writer.log").read_text()
        # the freeze: no more writes. wait_caught_up's own verdict on the slot sees the lag go to 0
        freeze = follow.current_lsn(src)
        deadline = time.monotonic() + 120
        while not (v := lag_verdict(fetch_one(src, "show_replication_slot", slot=names.slot), names.slot, 0)).done:
            assert not v.failed and time.monotonic() < deadline, v
            time.sleep(0.2)
        done = sub.finish_at_freeze(src, tgt, names.subscription, names.slot, names.publication, freeze, address,
                                    timeout_s=120)
        assert done["detached"] and sub.find(tgt, names.subscription) is None
        # detached, not dropped with it: the slot is still there (the run's cleanup drops it)
        state = follow.slot_state(src, names.slot)
        assert state.confirmed_lsn >= freeze > start_lsn
        for table in TABLES:
            assert fingerprint(tgt, table) == fingerprint(src, table), table
        # not vacuous: the writer's transactions after the snapshot came through the subscription
        assert tgt.execute("SELECT count(*) FROM app.events WHERE kind = 'marker'").fetchone() == (1,)
        after = tgt.execute("SELECT max(id) FROM app.docs").fetchone()[0] - snapshot_max_id    # one per transaction
        assert after > 100, f"only {after} writer transactions after the snapshot"
        # a retried cutover step finds it gone and nothing of the run's tables left in the slot
        assert sub.finish_at_freeze(src, tgt, names.subscription, names.slot, names.publication,
                                    follow.current_lsn(src), address)["detached"] is False
        removed = sl.cleanup(src, tgt, names)
        assert removed["slots"] == [names.slot] and removed["subscription"] is False
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
        if tgt is not None:
            sub.drop(tgt, names.subscription)
            tgt.close()
        sl.cleanup(src, None, names)
        src.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def published(logical_source, pg_target, target_db):
    """A source table, the same table on the target, a publication and a slot on the source."""
    db = "sub_src"
    logical_source.recreate_db(db)
    names = sl.RunNames.of("postgres_online_migration", "subscription__2")
    with connect(logical_source, db) as src, connect(pg_target, target_db) as tgt:
        src.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        tgt.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        src.execute(f"CREATE PUBLICATION {names.publication} FOR TABLE t")
        src.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (names.slot,))
        try:
            yield src, tgt, names, sub.source_params(source_endpoint(logical_source, db))
        finally:
            sub.drop(tgt, names.subscription)
            sl.cleanup(src, tgt, names)


def test_a_target_that_cannot_reach_the_source_fails_naming_the_address(published, pg_target):
    src, tgt, names, address = published
    port = free_port()
    away = {**address, "port": str(port), "password": "never shown"}
    with pytest.raises(sub.SubscriptionError) as failed:
        sub.create(tgt, names.subscription, away, names.publication, names.slot)
    message = str(failed.value)
    assert f"could not connect to the source at 127.0.0.1:{port}" in message
    assert "subscription_source_host / subscription_source_port" in message and "never shown" not in message
    assert sub.find(tgt, names.subscription) is None
    # the failed statement, password and all, is not in the target server's log (log_min_error_statement
    # would write it there): pgferry's session asked the server not to
    log = pg_target.logfile.read_text(errors="replace")
    assert "could not connect to the publisher" in log and "never shown" not in log


def test_a_worker_that_cannot_connect_fails_the_bounded_wait_clearly(published):
    src, tgt, names, address = published
    assert sub.create(tgt, names.subscription, address, names.publication, names.slot) == "created"
    sub.wait_running(src, tgt, names.subscription, names.slot, address, timeout_s=60)
    # the source moves away after the create (its port as the target saw it): the worker's reconnects fail
    tgt.execute(f"ALTER SUBSCRIPTION {names.subscription} CONNECTION 'host=127.0.0.1 port={free_port()} "
                f"dbname=sub_src user=postgres connect_timeout=2'")
    sl.wait_released(src, names.slot, timeout_s=30)
    with pytest.raises(sub.SubscriptionError, match=f"subscription {names.subscription} (has no apply worker running "
                                                    f"on the target|has a worker, but it holds no session on the "
                                                    f"source's slot) after .* TARGET server's log"):
        sub.wait_running(src, tgt, names.subscription, names.slot, address, timeout_s=6)
    # the cutover's wait says the same when the worker stays away
    with pytest.raises(sub.SubscriptionError, match="TARGET server's log"):
        sub.wait_confirmed(src, tgt, names.subscription, names.slot, follow.current_lsn(src) + 1, address,
                           timeout_s=60, stall_s=4)
    # abort/cleanup remove it in this state too, and again without error
    assert sub.drop(tgt, names.subscription) is True and sub.drop(tgt, names.subscription) is False
    assert fetch_one(src, "show_replication_slot", slot=names.slot) is not None     # the slot stays to cleanup
