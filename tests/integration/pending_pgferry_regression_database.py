"""pgferry on PostgreSQL's regression database: its result must equal pg_dump | pg_restore's.

FAILS TODAY (issue 11's gap list), so this file is named outside pytest's `test_*.py` pattern and the
default run does not collect it. Run it explicitly:
    PYTHONPATH=$PWD .venv/bin/pytest tests/integration/pending_pgferry_regression_database.py
To put it in `make test` once pgferry passes it, rename it to test_pgferry_regression_database.py.

The C-language functions and exactly what depends on them are left out with `skip_unmigratable: true`
(precheck lists them; the plan records them as `left_out_dependents`).
"""
import pytest

from tests.integration.test_regression_database import regression_cluster, regression_fixture  # noqa: F401
from localstack import airflow_env
from tests.support import regression_db
from tests.support.compare import compare_databases
from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.support.migration import unique_db
from tests.support.regression_db import pg_bindir  # the one import of the cluster helpers is there

pytestmark = [pytest.mark.integration, pytest.mark.dagrun, pytest.mark.regression]

C_FUNCTIONS = """
SELECT DISTINCT n.nspname || '.' || p.proname FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE l.lanname = 'c' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"""


def test_pgferry_migrates_the_regression_database_as_pg_dump_restore_does(
        airflow_db, regression_fixture, regression_cluster, pg_target):  # noqa: F811
    regression_db.create_roles(regression_fixture, pg_target)
    baseline_db, ferried_db = unique_db("regress_baseline"), unique_db("regress_pgferry")
    try:
        regression_db.dump_and_restore(regression_cluster, "regression", pg_target, baseline_db)
        pg_target.recreate_db(ferried_db)
        airflow_env.postgres_connection("pgferry_source", regression_cluster.port, "regression")
        airflow_env.postgres_connection("pgferry_target", pg_target.port, ferried_db)
        exclude = [r[0] for r in regression_cluster.query(C_FUNCTIONS, "regression")]
        dr, states = run_dag(load_dag("postgres_logical_migration"),
                             {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target",
                              "parallelism": 2, "skip_unmigratable": True})
        assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}
        assert xcom_value(dr, "validate")["ok"] is True

        # pgferry's target equals pg_dump | pg_restore's, object for object, row for row, apart from the
        # C functions and what precheck named as depending on them
        plan = xcom_value(dr, "precheck")["plan"]
        versus_baseline = compare_databases(pg_target.dsn(baseline_db), pg_target.dsn(ferried_db), pg_bindir())
        left_out = tuple(f"FUNCTION {name}(" for name in exclude) + tuple(
            f"{d['type'].upper()} {d['identity']}" for d in plan["left_out_dependents"])
        not_left_out = [str(d) for d in versus_baseline.differences
                        if not (d.kind == "schema" and d.detail == "missing in target" and d.name.startswith(left_out))]
        assert not_left_out == [], "\n".join(not_left_out)
        # and what differs from the source is only what PostgreSQL itself cannot reproduce
        versus_source = compare_databases(regression_cluster.dsn("regression"), pg_target.dsn(ferried_db), pg_bindir())
        unexplained = [str(d) for d in versus_source.differences
                       if (d.kind, d.name) not in regression_db.KNOWN_DIFFERENCES
                       and not (d.kind == "schema" and d.name.startswith(left_out))]
        assert unexplained == [], "\n".join(unexplained)
    finally:
        for db in (baseline_db, ferried_db):
            pg_target.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
