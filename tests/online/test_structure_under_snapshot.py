"""structure's online hook: given the run's snapshot (state["snapshot"]), pg_dump reads the structure as of
the starting point, so a column added on the source afterwards is not created on the target."""
from __future__ import annotations

import psycopg
import pytest

from include.pgferry.logical.precheck import precheck
from include.pgferry.logical.structure import structure
from include.pgferry.online import slot as sl
from localstack import airflow_env
from tests.online.conftest import connect

pytestmark = pytest.mark.integration

DB = "structure_src"


def columns(conn):
    return [r[0] for r in conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'app.t'::regclass "
                                       "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")]


def test_structure_reads_the_starting_point(logical_source, pg_target, target_db):
    logical_source.recreate_db(DB)
    airflow_env.postgres_connection("pgferry_structure_src", logical_source.port, DB)
    airflow_env.postgres_connection("pgferry_structure_tgt", pg_target.port, target_db)
    params = {"source_conn_id": "pgferry_structure_src", "target_conn_id": "pgferry_structure_tgt",
              "objects": ["app"]}
    with connect(logical_source, DB) as src:
        src.execute("CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text)")
        state = precheck(params)
        holder = sl.SnapshotHolder(lambda: psycopg.connect(logical_source.dsn(DB), replication="database",
                                                           autocommit=True, connect_timeout=10),
                                   "pgferry_structure_tmp", create_timeout_s=60)
        exported = holder.open()
        try:
            src.execute("ALTER TABLE app.t ADD COLUMN later int")     # after the starting point
            assert structure(params, {**state, "snapshot": exported.snapshot})["statements"] > 0
        finally:
            holder.close()
        assert columns(src) == ["id", "v", "later"]
    with connect(pg_target, target_db) as tgt:
        assert columns(tgt) == ["id", "v"]
