"""pgferry on PostgreSQL's whole regression database, C-language functions in place: its result must equal
pg_dump | pg_restore's, apart from the C functions and exactly what depends on them.

The regression database holds 24 C-language functions (regress.so, refint.so, autoinc.so) and objects
built on them (types whose input function is one: `widget`, `city_budget`; an operator over `widget`, the
column `city.budget`, the view `iexit`, functions whose planner support function is C). pgferry does not
migrate C functions (DTS's rule); with `skip_unmigratable: true` precheck leaves out the C functions and
what depends on them, and everything else moves in the same run.

What "exactly what depends on them" is, is not pgferry's to say: the oracle is PostgreSQL's own
`DROP FUNCTION ... CASCADE`, which removes precisely what depends on the dropped functions. A copy of the
database (`CREATE DATABASE ... TEMPLATE`, which keeps dropped columns, column orders and the stale
materialized view) with its C functions dropped CASCADE, moved by pg_dump | pg_restore, is the baseline:
pgferry's target must equal it object for object (schema blocks, column order, every table's rows, every
sequence, every large object), after one run through the DAG and then after every copy lane and the keys
step ran again, as if cleared (a retried lane meets the NOT VALID checks, exclusion constraints and
partitioned keys the first try built). pgferry leaving out one object too many or too few fails it.
"""
import time

import pytest

from include.pgferry.logical import copy_lane, finalize, plan_lanes, triggers_and_foreign_keys, validate
from localstack import airflow_env
from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.integration.test_regression_database import regression_cluster, regression_fixture  # noqa: F401
from tests.support import regression_db
from tests.support.compare import compare_databases
from tests.support.migration import unique_db
from tests.support.regression_db import pg_bindir  # the one import of the cluster helpers is there

pytestmark = [pytest.mark.integration, pytest.mark.dagrun, pytest.mark.regression]

C_FUNCTIONS = """
SELECT p.oid::regprocedure::text FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE l.lanname = 'c' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"""

C_FUNCTION_OIDS = C_FUNCTIONS.replace("p.oid::regprocedure::text", "p.oid::bigint")

# what precheck names as depending on the C functions (pg_identify_object's type and identity)
DEPENDENTS = [
    ("function", "public.my_gen_series(integer,integer)"), ("function", "public.my_int_eq(integer,integer)"),
    ("operator", "public.<%(pg_catalog.point,public.widget)"),
    ("operator", "public.>%(public.widget,pg_catalog.point)"),     # shell operators: never dumped
    ("operator", "public.>=%(pg_catalog.point,public.widget)"),
    ("table column", "public.city.budget"),
    ("type", "public.city_budget"), ("type", "public.city_budget[]"), ("type", "public.iexit"),
    ("type", "public.iexit[]"), ("type", "public.widget"), ("type", "public.widget[]"), ("view", "public.iexit"),
]


@pytest.fixture(scope="module")
def without_c_functions(regression_cluster):  # noqa: F811
    """A copy of `regression` with the C functions dropped CASCADE: PostgreSQL's own answer to what depends
    on them."""
    name = "regression_without_c"
    regression_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    regression_cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE regression')
    functions = [r[0] for r in regression_cluster.query(C_FUNCTIONS, name)]
    assert len(functions) == 24
    with regression_cluster.connect(name) as conn:
        for f in functions:
            conn.execute(f"DROP FUNCTION IF EXISTS {f} CASCADE")
    yield name
    regression_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_skip_unmigratable_migrates_the_whole_regression_database_around_its_c_functions(
        airflow_db, regression_fixture, regression_cluster, without_c_functions, pg_target):  # noqa: F811
    regression_db.create_roles(regression_fixture, pg_target)
    baseline_db, ferried_db = unique_db("regress_baseline"), unique_db("regress_pgferry")
    try:
        regression_db.dump_and_restore(regression_cluster, without_c_functions, pg_target, baseline_db)
        pg_target.recreate_db(ferried_db)
        airflow_env.postgres_connection("pgferry_source", regression_cluster.port, "regression")
        airflow_env.postgres_connection("pgferry_target", pg_target.port, ferried_db)
        params = {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target", "parallelism": 2,
                  "skip_unmigratable": True}
        started = time.monotonic()
        dr, states = run_dag(load_dag("postgres_logical_migration"), params)
        print(f"pgferry, whole regression database with skip_unmigratable: {time.monotonic() - started:.1f} s")
        assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}
        report = xcom_value(dr, "validate")
        assert report["ok"] is True
        assert report["dump_entries"]["differing"] == [] and report["dump_entries"]["entries"] > 1800   # pg_dump's TOC
        assert xcom_value(dr, "large_objects")["large_objects"] == 3

        # precheck named the C functions and exactly their dependents
        state = xcom_value(dr, "precheck")
        plan = state["plan"]
        c_functions = {r[0] for r in regression_cluster.query(C_FUNCTION_OIDS, "regression")}
        assert len(c_functions) == 24
        assert {f["oid"] for f in plan["excluded_functions"]} == c_functions | {
            d["entries"][0][1] for d in plan["left_out_dependents"] if d["type"] == "function"}
        assert sorted((d["type"], d["identity"]) for d in plan["left_out_dependents"]) == DEPENDENTS
        assert plan["left_out_objects"] == []   # no index, key or trigger of a migrated table needed city.budget

        # every lane again, as if cleared after success with what follows it: the keys step and finalize again
        # (which removes the lanes' bookkeeping, pgferry_copy, once more): still exact
        planned = plan_lanes.plan_lanes(params, state)
        copies = [copy_lane.copy_lane(params, lane) for lane in planned["lanes"]]
        triggers_and_foreign_keys.triggers_and_foreign_keys(params, state, planned["post_data"])
        finalize.finalize(params, state, planned["post_data"])
        again = validate.validate(params, state, copies)
        assert again["ok"], again["problems"]
        assert len(again["tables"]) > 500

        # pgferry's target equals pg_dump | pg_restore of the database without its C functions (CASCADE)
        versus_baseline = compare_databases(pg_target.dsn(baseline_db), pg_target.dsn(ferried_db), pg_bindir())
        print(versus_baseline.text().splitlines()[0])
        assert [str(d) for d in versus_baseline.differences] == []
        assert versus_baseline.tables > 500 and versus_baseline.rows > 400_000 and versus_baseline.large_objects == 3
        assert versus_baseline.schema_objects > 1800
        # and what differs from that source is only what PostgreSQL itself cannot reproduce
        versus_source = compare_databases(regression_cluster.dsn(without_c_functions), pg_target.dsn(ferried_db),
                                          pg_bindir())
        unexplained = [str(d) for d in versus_source.differences
                       if (d.kind, d.name) not in regression_db.KNOWN_DIFFERENCES]
        assert unexplained == [], "\n".join(unexplained)
    finally:
        for db in (baseline_db, ferried_db):
            pg_target.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
