"""The catch-up wait's trigger, run on an event loop against the real source and target: caught up, still
behind (timeout, never a failure), a slot that is gone (failure at once), the lag in seconds read from the
apply's progress row on the target, and a source that cannot be reached (as while it restarts: looked at
again, never a failure)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from psycopg import sql

from include.pgferry.online import apply as ap
from include.pgferry.online.lag_trigger import ApplyLagTrigger
from localstack import airflow_env
from tests.online.conftest import connect

pytestmark = pytest.mark.integration

DB = "lag_src"
SLOT = "pgferry_lagtest0"


@pytest.fixture(scope="module")
def source(logical_source):
    logical_source.recreate_db(DB)
    airflow_env.postgres_connection("pgferry_lag_source", logical_source.port, DB)
    with connect(logical_source, DB) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY)")
        c.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))
        yield c
        c.execute("SELECT pg_drop_replication_slot(%s)", (SLOT,))


@pytest.fixture
def target(pg_target, target_db):
    airflow_env.postgres_connection("pgferry_lag_target", pg_target.port, target_db)
    with connect(pg_target, target_db) as c:
        yield c


def events(**kw):
    trigger = ApplyLagTrigger(**{"source_conn_id": "pgferry_lag_source", "slot": SLOT, "poke_s": 0,
                                 "max_looks": 2, **kw})
    classpath, args = trigger.serialize()
    assert classpath == "include.pgferry.online.lag_trigger.ApplyLagTrigger"
    again = ApplyLagTrigger(**args)          # what the triggerer rebuilds from the table

    async def collect():
        return [e.payload async for e in again.run()]
    # an event loop of its own, on a thread of its own: a test before this one in the same process may have
    # left this thread's loop running (dag.test() runs deferred triggers inline)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(collect(), timeout=60)).result(timeout=90)


def test_caught_up_behind_and_gone(source):
    source.execute("INSERT INTO t SELECT generate_series(1, 1000)")    # the slot now lags by this much WAL
    [behind] = events(max_lag_bytes=0)
    assert behind["status"] == "timeout" and behind["message"].startswith("apply lag ")
    [caught_up] = events(max_lag_bytes=64 * 1024 * 1024)
    assert caught_up["status"] == "success" and f"slot {SLOT} at " in caught_up["message"]
    [failed] = events(max_lag_bytes=0, slot="pgferry_nosuchslot", max_looks=5)    # at once, not after 5 looks
    assert failed == {"status": "failed", "message": "the replication slot pgferry_nosuchslot is gone from the "
                                                     "source: changes are lost to this run; abort it and start again"}


def test_lag_in_seconds_from_the_apply_progress_on_the_target(source, target):
    source.execute("INSERT INTO t SELECT generate_series(2001, 3000)")      # pending WAL
    # no bookkeeping on the target yet (the apply has not started): seconds unknown, bytes still judged
    [unknown] = events(max_lag_bytes=0, target_conn_id="pgferry_lag_target", max_looks=1)
    assert unknown["status"] == "timeout" and unknown["message"].startswith("apply lag ")
    assert ", ? s (" in unknown["message"] and unknown["data"]["lag_seconds"] is None
    # the apply last committed a source transaction of 30 s ago (the source's clock) and has caught up since
    ap.ensure_bookkeeping(target)
    committed = source.execute("SELECT now() - interval '30 seconds'").fetchone()[0]
    target.execute(sql.SQL("INSERT INTO {} (slot_name, commit_lsn, end_lsn, transactions, applied_at, commit_time) "
                           "VALUES (%s, '0/1', '0/2', 1, now(), %s)").format(ap.PROGRESS.identifier), (SLOT, committed))
    [behind] = events(max_lag_bytes=0, target_conn_id="pgferry_lag_target", max_looks=1)
    data = behind["data"]
    assert data["lag_bytes"] > 0 and data["retained_bytes"] >= data["lag_bytes"]
    assert 30 <= data["lag_seconds"] < 90, data
    assert f", {data['lag_seconds']:.0f} s (" in behind["message"]
    # a catch-up mark newer than the last commit counts instead
    target.execute(sql.SQL("UPDATE {} SET caught_up_at = %s").format(ap.PROGRESS.identifier),
                   (source.execute("SELECT now() - interval '2 seconds'").fetchone()[0],))
    [marked] = events(max_lag_bytes=64 * 1024 * 1024, target_conn_id="pgferry_lag_target", max_looks=1)
    assert marked["status"] == "success" and 2 <= marked["data"]["lag_seconds"] < 60


def test_an_unreachable_source_is_looked_at_again(source):
    from localstack.ports import free_port
    airflow_env.postgres_connection("pgferry_lag_nowhere", free_port(), DB)     # nothing listens there
    [event] = events(source_conn_id="pgferry_lag_nowhere", max_lag_bytes=0, max_looks=2)
    assert event["status"] == "timeout" and event["message"].startswith("the source is unreachable ("), event


def test_a_slot_that_stands_still_while_behind_fails_as_a_dead_apply(source):
    """Nobody applies: the slot stays where it is while the source writes. Within the bound it is only
    behind; past it (1 s here, 900 by default) the wait fails, naming the dead apply."""
    source.execute("INSERT INTO t SELECT generate_series(3001, 4000)")
    [behind] = events(max_lag_bytes=0, max_looks=1, stall_s=1)
    assert behind["status"] == "timeout", behind
    [stalled] = events(max_lag_bytes=0, poke_s=1, max_looks=5, stall_s=1)
    assert stalled["status"] == "failed", stalled
    assert stalled["message"].startswith(f"the apply has not moved the slot {SLOT} for "), stalled
    assert "apply_changes is not running or is stuck" in stalled["message"]
