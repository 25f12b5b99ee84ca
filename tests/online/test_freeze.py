"""The cutover's freeze on the real source: read-only mode ends the application's sessions and leaves it
read-only until unfrozen; stopped mode refuses while someone still writes; the freeze LSN is past the last
commit."""
from __future__ import annotations

import psycopg
import pytest

from include.pgferry.model import Plan
from include.pgferry.online import freeze as fz
from include.pgferry.online import pgoutput as po
from tests.online.conftest import connect
from tests.online.test_apply import _relation

pytestmark = pytest.mark.integration

DB = "freeze_src"


@pytest.fixture
def source(logical_source):
    logical_source.recreate_db(DB)
    with connect(logical_source, DB, application_name="pgferry freeze") as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY)")
        yield c
        fz.unfreeze(c)


def test_read_only_freeze_ends_the_application_and_keeps_new_sessions_from_writing(logical_source, source):
    app = connect(logical_source, DB, application_name="shop")
    app.execute("INSERT INTO t VALUES (1)")
    last_commit = po.lsn_int(app.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0])
    plan = Plan(relations=(_relation(source, "public", "t"),))
    out = fz.freeze(source, plan, fz.READ_ONLY, clock=lambda: 42.0)
    assert out["mode"] == "read_only" and out["frozen_at"] == 42.0
    assert len(out["ended_sessions"]) == 1 and "shop" in out["ended_sessions"][0]
    assert po.lsn_int(out["freeze_lsn"]) >= last_commit
    assert list(out["write_counters"].values()) == [1]
    with pytest.raises(psycopg.OperationalError):
        app.execute("SELECT 1")              # its session was ended
    app.close()
    with connect(logical_source, DB, application_name="shop") as again:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            again.execute("INSERT INTO t VALUES (2)")
    source.execute("SELECT 1")               # pgferry's own session was left alone
    fz.unfreeze(source)
    with connect(logical_source, DB, application_name="shop") as after:
        after.execute("INSERT INTO t VALUES (2)")


def test_stopped_mode_refuses_while_a_write_transaction_is_open(logical_source, source):
    with connect(logical_source, DB, autocommit=False, application_name="late writer") as w:
        w.execute("INSERT INTO t VALUES (3)")
        with pytest.raises(fz.FreezeError, match=r"late writer\) still hold\(s\) a write transaction"):
            fz.freeze(source, Plan(), fz.STOPPED, clock=lambda: 0.0)
        w.rollback()
    assert fz.freeze(source, Plan(), fz.STOPPED, clock=lambda: 0.0)["ended_sessions"] == []
    with pytest.raises(fz.FreezeError, match="freeze_mode 'later'"):
        fz.freeze(source, Plan(), "later", clock=lambda: 0.0)
