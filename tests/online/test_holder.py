"""The snapshot holder's loop against the real source, with its clock and pause given by the test: the
hand-over to the permanent slot, and each way it ends early with no temporary slot left behind."""
from __future__ import annotations

import psycopg
import pytest

from include.pgferry.online import follow
from include.pgferry.online import holder as hd
from include.pgferry.online import slot as sl
from include.pgferry.pg.catalog import fetch_one
from tests.online.conftest import connect

pytestmark = pytest.mark.integration

DB = "holder_src"
TMP, PERMANENT = "pgferry_holdtest_tmp", "pgferry_holdtest"


class Clock:
    """Time that passes only when the loop pauses."""
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def pause(self, seconds):
        self.now += seconds


@pytest.fixture
def watch(logical_source):
    logical_source.recreate_db(DB)
    with connect(logical_source, DB) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY)")
        yield c
        for s in (TMP, PERMANENT):
            if fetch_one(c, "show_replication_slot", slot=s):
                sl._drop_slot(c, s)


def holder(cluster):
    return sl.SnapshotHolder(lambda: psycopg.connect(cluster.dsn(DB), replication="database", autocommit=True,
                                                     connect_timeout=10), TMP, create_timeout_s=60)


def run(cluster, watch, load_done, **kw):
    clock, published = Clock(), []
    args = {"publish": published.append, "load_done": load_done, "max_retained_bytes": None,
            "max_hold_s": 3600, "poke_s": 15, "clock": clock, "pause": clock.pause, **kw}
    try:
        return hd.hold(holder(cluster), watch, PERMANENT, **args), published, clock
    finally:
        sl.wait_released(watch, TMP)


def test_held_until_the_load_is_done_then_handed_to_the_permanent_slot(logical_source, watch):
    looks = iter([False, False, True])
    result, published, clock = run(logical_source, watch, lambda: next(looks))
    assert len(published) == 1 and result["snapshot"] == published[0].snapshot
    assert clock.now == 30 and result["held_s"] == 30
    slot = fetch_one(watch, "show_replication_slot", slot=PERMANENT)
    assert slot["confirmed_flush_lsn"] == result["consistent_lsn"] and not slot["temporary"]
    assert fetch_one(watch, "show_replication_slot", slot=TMP) is None


def test_too_much_retained_wal_ends_the_hold(logical_source, watch):
    def load_done():
        watch.execute("INSERT INTO t SELECT generate_series(1, 20000) ON CONFLICT DO NOTHING")
        return False
    with pytest.raises(follow.FollowError, match="more than max_retained_wal_bytes"):
        run(logical_source, watch, load_done, max_retained_bytes=100_000)
    assert fetch_one(watch, "show_replication_slot", slot=TMP) is None
    assert fetch_one(watch, "show_replication_slot", slot=PERMANENT) is None


def test_a_load_that_never_ends_is_bounded(logical_source, watch):
    with pytest.raises(sl.SlotError, match="did not finish within 60 s"):
        run(logical_source, watch, lambda: False, max_hold_s=60)
    assert fetch_one(watch, "show_replication_slot", slot=TMP) is None


def test_a_holder_whose_session_died_says_to_clear_the_load(logical_source, watch):
    def load_done():
        pid = fetch_one(watch, "show_replication_slot", slot=TMP)["active_pid"]
        watch.execute("SELECT pg_terminate_backend(%s)", (pid,))
        sl.wait_released(watch, TMP)
        return False
    with pytest.raises(sl.SlotError, match="clear the whole online_load group"):
        run(logical_source, watch, load_done)
    assert fetch_one(watch, "show_replication_slot", slot=PERMANENT) is None
