"""The copy lanes' online hook: a lane given the run's exported snapshot loads the source exactly as it
was at the starting point, whatever was written since, including a table cut into key ranges; once the
holder is gone, the lane fails saying to clear the load."""
from __future__ import annotations

import psycopg
import pytest

from include.pgferry.logical.copy_lane import copy_lane
from include.pgferry.model import KeyRange, Lane, QualifiedName, Unit
from include.pgferry.online import slot as sl
from localstack import airflow_env
from tests.online.conftest import connect

pytestmark = pytest.mark.integration

DB = "lanes_src"
T = QualifiedName("app", "t")


def unit(i, lo, hi):
    return Unit(id=f"app.t [{i}/2]", oid=0, source=T, target=T, columns=("id", "v"), target_columns=("id", "v"),
                binary=True, range=KeyRange("id", lo, hi), bytes=1, table_parts=2)


def test_a_lane_reads_the_starting_point_and_fails_clearly_without_its_holder(logical_source, pg_target, target_db):
    logical_source.recreate_db(DB)
    airflow_env.postgres_connection("pgferry_online_src", logical_source.port, DB)
    airflow_env.postgres_connection("pgferry_online_tgt", pg_target.port, target_db)
    params = {"source_conn_id": "pgferry_online_src", "target_conn_id": "pgferry_online_tgt"}
    ddl = "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text)"
    lane = Lane((unit(1, None, 500), unit(2, 500, None))).to_xcom()
    with connect(logical_source, DB) as src, connect(pg_target, target_db) as tgt:
        src.execute(ddl)
        tgt.execute(ddl)
        src.execute("INSERT INTO app.t SELECT g, 'v' || g FROM generate_series(1, 1000) g")
        expected = src.execute("SELECT id, v FROM app.t ORDER BY id").fetchall()
        holder = sl.SnapshotHolder(lambda: psycopg.connect(logical_source.dsn(DB), replication="database",
                                                           autocommit=True, connect_timeout=10),
                                   "pgferry_lanes_tmp", create_timeout_s=60)
        exported = holder.open()
        try:
            # written after the starting point: none of it may reach the load
            src.execute("DELETE FROM app.t WHERE id % 3 = 0")
            src.execute("UPDATE app.t SET v = 'later' WHERE id < 100")
            src.execute("INSERT INTO app.t SELECT g, 'new' FROM generate_series(1001, 1500) g")
            results = copy_lane(params, lane, snapshot=exported.snapshot)
            assert [r["rows"] for r in results] == [499, 501]
            assert tgt.execute("SELECT id, v FROM app.t ORDER BY id").fetchall() == expected
            # the offline call (no snapshot) reads the source as it is now: the hook is what made the difference
            copy_lane(params, lane)
            assert tgt.execute("SELECT count(*) FROM app.t").fetchone() == (1167,)
        finally:
            holder.close()
        sl.wait_released(src, "pgferry_lanes_tmp")
        with pytest.raises(sl.SlotError, match="clear the whole online_load group"):
            copy_lane(params, lane, snapshot=exported.snapshot)
