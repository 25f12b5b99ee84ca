"""plan_lanes' online hook: given the run's snapshot (state["snapshot"]), the post-data (indexes, constraints,
triggers) is dumped as of the starting point, as structure's pre-data is: an index, a constraint and a
trigger created on the source after the snapshot are neither planned nor created on the target; those the
source had at the snapshot are; an index dropped after the snapshot fails nothing (pg_dump leaves it out)."""
from __future__ import annotations

import psycopg
import pytest

from include.pgferry.logical.plan_lanes import plan_lanes
from include.pgferry.logical.precheck import precheck
from include.pgferry.logical.structure import structure
from include.pgferry.logical.triggers_and_foreign_keys import triggers_and_foreign_keys
from include.pgferry.model import PostData
from include.pgferry.online import slot as sl
from localstack import airflow_env
from tests.online.conftest import connect

pytestmark = pytest.mark.integration

DB = "post_data_src"
SOURCE_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, v text, w int);
CREATE INDEX t_v_before ON app.t (v);
CREATE INDEX t_vw_dropped_later ON app.t (v, w);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
INSERT INTO app.t SELECT g, md5(g::text), g FROM generate_series(1, 100) g;
"""
LATER_SQL = """
DROP INDEX app.t_vw_dropped_later;
CREATE INDEX t_w_later ON app.t (w);
ALTER TABLE app.t ADD CONSTRAINT t_w_unique_later UNIQUE (w);
CREATE TRIGGER t_touch_later BEFORE UPDATE ON app.t FOR EACH ROW EXECUTE FUNCTION app.touch();
"""
LATER = {"t_w_later", "t_w_unique_later", "t_touch_later"}


def post_data_names(post_data: dict) -> set[str]:
    pd = PostData.from_xcom(post_data)
    return {s.name for phase in pd.phases for s in pd.statements(phase) if s.name}


def target_objects(conn) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT relname::text FROM pg_index JOIN pg_class ON pg_class.oid = indexrelid WHERE indrelid = 'app.t'::regclass "
        "UNION ALL SELECT conname FROM pg_constraint WHERE conrelid = 'app.t'::regclass "
        "UNION ALL SELECT tgname FROM pg_trigger WHERE tgrelid = 'app.t'::regclass AND NOT tgisinternal")}


def test_plan_lanes_reads_the_post_data_at_the_starting_point(logical_source, pg_target, target_db):
    logical_source.recreate_db(DB)
    airflow_env.postgres_connection("pgferry_post_data_src", logical_source.port, DB)
    airflow_env.postgres_connection("pgferry_post_data_tgt", pg_target.port, target_db)
    params = {"source_conn_id": "pgferry_post_data_src", "target_conn_id": "pgferry_post_data_tgt",
              "objects": ["app"]}
    with connect(logical_source, DB) as src:
        src.execute(SOURCE_SQL)
        state = precheck(params)
        holder = sl.SnapshotHolder(lambda: psycopg.connect(logical_source.dsn(DB), replication="database",
                                                           autocommit=True, connect_timeout=10),
                                   "pgferry_post_data_tmp", create_timeout_s=60)
        exported = holder.open()
        try:
            src.execute(LATER_SQL)                      # after the starting point, during the load
            at_start = {**state, "snapshot": exported.snapshot}
            structure(params, at_start)
            planned = plan_lanes(params, at_start)
            # without the snapshot (as before), the later objects come along: the test can tell
            assert LATER <= post_data_names(plan_lanes(params, state)["post_data"])
        finally:
            holder.close()
        assert LATER <= target_objects(src)
    names = post_data_names(planned["post_data"])
    assert {"t_pkey", "t_v_before"} <= names and not names & LATER, names
    triggers_and_foreign_keys(params, state, planned["post_data"])
    with connect(pg_target, target_db) as tgt:
        made = target_objects(tgt)
    assert {"t_pkey", "t_v_before"} <= made and not made & LATER, made
