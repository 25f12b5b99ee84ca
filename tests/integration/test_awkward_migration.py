"""The whole awkward database through the real DAG, compared with pg_dump on both sides."""
import pytest

from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.support.compare import compare_databases
from tests.support.migration import data_rows, schema_lines
from tests.support.regression_db import pg_bindir

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]


def test_whole_database_migrates_exactly(airflow_db, pg_source, pg_target, awkward_db, target_db, connections):
    conf = connections(awkward_db)
    dr, states = run_dag(load_dag("postgres_logical_migration"), {**conf, "parallelism": 2})
    assert dr.state == "success", states
    assert all(s == "success" for s in states.values()), states

    # structure: pg_dump's view of both databases is the same, object for object
    assert schema_lines(pg_target, target_db) == schema_lines(pg_source, awkward_db)
    # data: every row of every table, every sequence, and the large object (owner, ACL, content)
    assert data_rows(pg_target, target_db) == data_rows(pg_source, awkward_db)
    data = compare_databases(pg_source.dsn(awkward_db), pg_target.dsn(target_db), pg_bindir(), schema=False)
    assert data.large_objects == 1 and [str(d) for d in data.differences] == []

    # triggers came after the load: the uppercasing trigger did not rewrite the loaded rows, the
    # event trigger logged none of pgferry's DDL
    assert pg_target.query("SELECT count(*) FROM app.ddl_log", target_db) == [(0,)]
    src_people = pg_source.query("SELECT id, name FROM app.people ORDER BY id", awkward_db)
    assert pg_target.query("SELECT id, name FROM app.people ORDER BY id", target_db) == src_people
    assert any(name != name.upper() for _, name in src_people)

    report = xcom_value(dr, "validate")
    assert report["ok"] is True
    assert report["tables"] and all(t["ok"] for t in report["tables"])
    assert report["source_writes"]["tables_written"] == []
    assert not any("large object" in w for w in report["warnings"])   # they moved, with the whole database
    kinds = {o["kind"]: o for o in report["objects"]}
    for kind in ("table", "view", "materialized view", "trigger", "foreign key", "policy", "rule", "aggregate",
                 "operator", "enum type", "domain"):
        assert kinds[kind]["source"] > 0 and kinds[kind]["ok"], (kind, kinds.get(kind))
