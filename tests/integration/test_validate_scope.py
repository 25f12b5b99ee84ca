"""Issue 16: no lost row passes validate. What validate compares comes from the source's catalog (what
pg_dump dumps for the selection), not from the plan the copy used: a row lost from an ordinary table, a
partition, a large object or an extension's configuration table fails it by name, and so does a table the
plan has no place for or the target lacks.

One whole-database migration (dag.test) serves every deletion: each case deletes, runs validate again
with the run's state, and puts the row back; each asserts the one problem its deletion makes, so a row
left unrestored by an earlier case would show."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import pytest

from include.pgferry.logical import validate
from include.pgferry.report.publish import REPORT_KEY
from localstack import airflow_env
from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.support.migration import unique_db

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

LEDGER = """
    CREATE SCHEMA ledger;
    CREATE SCHEMA archive;
    CREATE TABLE ledger.accounts (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE ledger.entries (id bigserial, at date NOT NULL, amount numeric(12, 2), PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);
    CREATE TABLE ledger.entries_2023 PARTITION OF ledger.entries FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
    -- a partition in another schema: it follows its parent, not its schema
    CREATE TABLE archive.entries_2024 PARTITION OF ledger.entries FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE UNLOGGED TABLE ledger.scratch (k int, v text);
    CREATE SEQUENCE ledger.invoice_no START 1000;
    SELECT setval('ledger.invoice_no', 1041);
    CREATE VIEW ledger.big_entries AS SELECT * FROM ledger.entries WHERE amount > 100;
    CREATE MATERIALIZED VIEW ledger.totals AS SELECT at, sum(amount) AS total FROM ledger.entries GROUP BY at;
    INSERT INTO ledger.accounts SELECT g, 'account ' || g FROM generate_series(1, 40) g;
    INSERT INTO ledger.entries (at, amount)
        SELECT date '2023-01-01' + g * 3, g * 1.25 FROM generate_series(1, 200) g;
    INSERT INTO ledger.scratch SELECT g, 'v' || g FROM generate_series(1, 5) g;
    REFRESH MATERIALIZED VIEW ledger.totals;
    SELECT lo_from_bytea(7001, 'first object'), lo_from_bytea(7002, 'second object');
"""
# one deletion on the target, how it is put back, the problems validate must report (and no other)
DELETIONS = {
    "ordinary table": ("DELETE FROM ledger.accounts WHERE id = 7",
                       "INSERT INTO ledger.accounts VALUES (7, 'account 7')",
                       [r"table ledger\.accounts: rows 40 on the source, 39 on the target"]),
    "partition": ("DELETE FROM archive.entries_2024 WHERE id = 150",
                  "INSERT INTO ledger.entries VALUES (150, date '2023-01-01' + 450, 187.50)",
                  [r"table archive\.entries_2024: rows 79 on the source, 78 on the target"]),
    "large object": ("SELECT lo_unlink(7002)", "SELECT lo_from_bytea(7002, 'second object')",
                     [r"large object: 2 on the source, 1 on the target",
                      r"large objects differ: 7002 missing on the target"]),
}
USER_SRID = 990001   # a user's own spatial reference system: outside postgis's filter, so pg_dump dumps it
POSTGIS = f"""
    CREATE EXTENSION postgis;
    INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text)
        VALUES ({USER_SRID}, 'pgferry', {USER_SRID}, '', '+proj=longlat +datum=WGS84 +no_defs');
    CREATE TABLE public.places (id int PRIMARY KEY, name text, at geometry(Point, 4326));
    INSERT INTO public.places SELECT g, 'place ' || g, ST_SetSRID(ST_MakePoint(g, g), 4326)
        FROM generate_series(1, 10) g;
"""


def point(pg_source, pg_target, source_db, target_db) -> dict:
    airflow_env.postgres_connection("pgferry_source", pg_source.port, source_db)
    airflow_env.postgres_connection("pgferry_target", pg_target.port, target_db)
    return {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target", "parallelism": 2}


def problems_of(failed: pytest.ExceptionInfo) -> list[str]:
    return str(failed.value).split("\n  ")[1:]


@dataclass
class Migrated:
    source_db: str
    target_db: str
    state: dict


@pytest.fixture(scope="module")
def migrated(airflow_db, pg_source, pg_target):
    pg_source.recreate_db("validate_scope")
    pg_source.execute(LEDGER, dbname="validate_scope")
    target = unique_db("tgt")
    pg_target.recreate_db(target)
    dr, states = run_dag(load_dag("postgres_logical_migration"), point(pg_source, pg_target, "validate_scope", target))
    assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}
    report = xcom_value(dr, "validate")
    # the scope comes from the catalog: 4 tables with rows (not the partitioned parent, the view, the
    # materialized view), both sequences, nothing short
    assert report["scope"] == {"tables": 4, "sequences": 2, "configuration_tables": [], "not_planned": [],
                               "sequences_not_planned": [], "columns_left_out": [], "misplaced": [], "left_out": [],
                               "missing_on_target": []}
    assert {t["table"] for t in report["tables"]} == {"ledger.accounts", "ledger.entries_2023",
                                                      "archive.entries_2024", "ledger.scratch"}
    yield Migrated("validate_scope", target, xcom_value(dr, "precheck"))
    pg_target.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


@pytest.fixture
def params(migrated, pg_source, pg_target):
    return point(pg_source, pg_target, migrated.source_db, migrated.target_db)


@pytest.mark.parametrize("case", sorted(DELETIONS))
def test_a_row_deleted_on_the_target_fails_validate_naming_it(case, migrated, params, pg_target):
    delete, restore, expected = DELETIONS[case]
    pg_target.execute(delete, dbname=migrated.target_db)
    try:
        with pytest.raises(validate.ValidationFailed) as failed:
            validate.validate(params, migrated.state, [])
    finally:
        pg_target.execute(restore, dbname=migrated.target_db)
    problems = problems_of(failed)
    assert len(problems) == len(expected) and all(map(re.fullmatch, expected, problems)), problems
    assert validate.validate(params, migrated.state, [])["ok"]


def test_a_table_or_sequence_the_plan_left_out_fails_validate_naming_it(migrated, params):
    """A plan that lost a table, a partition and a sequence (the XCom state edited): the catalog still
    has them in scope."""
    state = copy.deepcopy(migrated.state)
    plan = state["plan"]
    plan["relations"] = [r for r in plan["relations"]
                         if (r["schema"], r["name"]) not in {("ledger", "accounts"), ("archive", "entries_2024")}]
    plan["sequences"] = [s for s in plan["sequences"] if s["name"] != "invoice_no"]
    with pytest.raises(validate.ValidationFailed) as failed:
        validate.validate(params, state, [])
    not_planned = "{}: its rows are in scope (pg_dump dumps them for this selection) but the plan has no place " \
                  "for them: not copied, not compared"
    assert sorted(problems_of(failed)) == sorted([
        "table " + not_planned.format("archive.entries_2024"), "table " + not_planned.format("ledger.accounts"),
        "sequence ledger.invoice_no: in scope (pg_dump dumps its value for this selection) but the plan has no "
        "place for it: not set, not compared"])


def test_a_table_missing_on_the_target_is_named_not_a_crash(migrated, params, pg_target):
    pg_target.execute("ALTER TABLE ledger.accounts RENAME TO accounts_elsewhere", dbname=migrated.target_db)
    try:
        with pytest.raises(validate.ValidationFailed) as failed:
            validate.validate(params, migrated.state, [])
    finally:
        pg_target.execute("ALTER TABLE ledger.accounts_elsewhere RENAME TO accounts", dbname=migrated.target_db)
    assert "table ledger.accounts: missing on the target" in problems_of(failed)


def test_a_user_row_of_an_extension_configuration_table_is_compared(airflow_db, pg_source, pg_target, target_db):
    """PostGIS's spatial_ref_sys: a user's row (outside the extension's filter) is data pg_dump dumps. The
    run moves it and validate compares it (and only it); the row lost on the target, validate fails naming
    the table."""
    if not pg_source.query("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"):
        pytest.fail("PostGIS is not installed for this PostgreSQL: `make extensions-deps` installs it")
    pg_source.recreate_db("validate_postgis")
    pg_source.execute(POSTGIS, dbname="validate_postgis")
    params = point(pg_source, pg_target, "validate_postgis", target_db)
    dr, states = run_dag(load_dag("postgres_logical_migration"), params)
    user_row = f"SELECT srid, auth_name, proj4text FROM spatial_ref_sys WHERE srid = {USER_SRID}"
    expected = [(USER_SRID, "pgferry", "+proj=longlat +datum=WGS84 +no_defs")]
    assert pg_source.query(user_row, "validate_postgis") == expected
    missing = (r"table public\.spatial_ref_sys: rows 1 on the source, 0 on the target \(the rows pg_dump dumps of "
               r"extension postgis's configuration table\)")
    # the copy lanes moved the user's row; the rows the extension itself made (thousands, on both sides)
    # are not compared
    assert pg_target.query(user_row, target_db) == expected
    assert states["validate"] == "success", states
    report = xcom_value(dr, "validate", key=REPORT_KEY)
    assert report["scope"]["configuration_tables"] == ["public.spatial_ref_sys (postgis)"]
    assert [(t["source_rows"], t["target_rows"]) for t in report["tables"]
            if t["table"] == "public.spatial_ref_sys"] == [(1, 1)]
    state = xcom_value(dr, "precheck")
    assert validate.validate(params, state, [])["ok"]
    pg_target.execute(f"DELETE FROM spatial_ref_sys WHERE srid = {USER_SRID}", dbname=target_db)
    with pytest.raises(validate.ValidationFailed) as failed:
        validate.validate(params, state, [])
    assert len(problems_of(failed)) == 1 and re.fullmatch(missing, problems_of(failed)[0]), problems_of(failed)


def test_a_schema_chosen_without_its_extension_loses_the_configuration_rows_and_validate_says_so(
        airflow_db, pg_source, pg_target, target_db):
    """objects: ["public"] dumps spatial_ref_sys's user rows (pg_dump --schema does), but no chosen column
    needs PostGIS, so the target has no spatial_ref_sys at all: missing, while the source has rows of it to
    dump; with none (the user row gone), nothing is lost and validate passes."""
    pg_source.recreate_db("validate_postgis_plain")
    pg_source.execute(f"""
        CREATE EXTENSION postgis;
        INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text)
            VALUES ({USER_SRID}, 'pgferry', {USER_SRID}, '', '+proj=longlat +datum=WGS84 +no_defs');
        CREATE TABLE public.notes (id int PRIMARY KEY, body text);
        INSERT INTO public.notes SELECT g, 'note ' || g FROM generate_series(1, 10) g;
    """, dbname="validate_postgis_plain")
    params = {**point(pg_source, pg_target, "validate_postgis_plain", target_db), "objects": ["public"]}
    dr, states = run_dag(load_dag("postgres_logical_migration"), params)
    assert pg_target.query("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'", target_db) == [(0,)]
    assert states["validate"] == "failed", states
    report = xcom_value(dr, "validate", key=REPORT_KEY)
    assert report["problems"] == ["table public.spatial_ref_sys: missing on the target"]
    assert [t["table"] for t in report["tables"]] == ["public.notes"] and report["tables"][0]["ok"]
    pg_source.execute(f"DELETE FROM spatial_ref_sys WHERE srid = {USER_SRID}", dbname="validate_postgis_plain")
    assert validate.validate(params, xcom_value(dr, "precheck"), [])["ok"]
