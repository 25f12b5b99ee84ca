"""compare_rows (logical/compare_rows.py) on real clusters: the logical DAG reads every table's rows once the
triggers and foreign keys are in place, beside finalize, and validate reuses what matched; what differed is read again and
named; a source write after the read still fails validate; a result recorded for other columns or another
target table is not reused.

One DAG run (dag.test) serves the module; each test puts the target back as it found it."""
from __future__ import annotations

import time

import pytest

from include.pgferry.logical import comparison, compare_rows, validate
from include.pgferry.model import Plan
from include.pgferry.report.text import render_report
from localstack import airflow_env
from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.support.migration import unique_db

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

SOURCE_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2));
INSERT INTO app.accounts SELECT g, 'owner ' || g, g * 1.5 FROM generate_series(1, 5000) g;
CREATE TABLE app.entries (account_id int REFERENCES app.accounts(id), amount numeric(12,2), note text);
INSERT INTO app.entries SELECT g % 5000 + 1, g, 'n' FROM generate_series(1, 20000) g;
CREATE TABLE app.flags (name text PRIMARY KEY, on_off boolean);
INSERT INTO app.flags VALUES ('a', true), ('b', false);
"""
TABLES = ["app.accounts", "app.entries", "app.flags"]
RENAME = {"app.accounts": "ledger_accounts", "app.accounts.owner": "holder"}


@pytest.fixture(scope="module")
def migrated(airflow_db, pg_source, pg_target):
    """(params, the precheck's state, source db, target db, the run) after one DAG run."""
    source, target = unique_db("cmp_src"), unique_db("cmp_tgt")
    pg_source.recreate_db(source)
    pg_source.execute(SOURCE_SQL, dbname=source)
    pg_target.recreate_db(target)
    airflow_env.postgres_connection("pgferry_cmp_source", pg_source.port, source)
    airflow_env.postgres_connection("pgferry_cmp_target", pg_target.port, target)
    params = {"source_conn_id": "pgferry_cmp_source", "target_conn_id": "pgferry_cmp_target",
              "objects": ["app"], "rename": RENAME}
    dr, states = run_dag(load_dag("postgres_logical_migration"), params)
    assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}
    try:
        yield params, xcom_value(dr, "precheck"), source, target, dr
    finally:
        pg_source.execute(f'DROP DATABASE IF EXISTS "{source}" WITH (FORCE)')
        pg_target.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def counted_now(params, state):
    """The run's state with the source's write counters as they are now: each test proves its own writes."""
    from include.pgferry.logical.common import endpoints
    source_ep, _ = endpoints(params)
    with source_ep.connect(autocommit=True) as source:
        counters = comparison.write_counters(source, Plan.from_xcom(state["plan"]))
    return {**state, "write_counters": counters}


def test_the_dag_validates_every_table_from_compare_rows_reads(migrated):
    _, _, _, _, dr = migrated
    compared = xcom_value(dr, "compare_rows")
    assert (compared["read"], compared["matched"]) == (3, 3)
    assert sorted(compared["tables"]) == TABLES
    assert compared["tables"]["app.accounts"]["target"] == "app.ledger_accounts"
    report = xcom_value(dr, "validate")
    assert report["ok"], report["problems"]
    assert [(t["table"], t.get("compared_by"), t["target_rows"]) for t in report["tables"]] == [
        ("app.accounts", "compare_rows", 5000), ("app.entries", "compare_rows", 20000),
        ("app.flags", "compare_rows", 2)]
    assert "  3 of them read by compare_rows, beside finalize; 0 read by validate" in render_report(report)


def test_a_table_that_differs_at_compare_rows_is_read_again_by_validate_and_named(migrated, pg_target):
    params, state, _, target, _ = migrated
    state = counted_now(params, state)
    pg_target.execute("UPDATE app.ledger_accounts SET holder = 'someone else' WHERE id = 42", dbname=target)
    try:
        compared = compare_rows.compare_rows(params, state)
        assert (compared["read"], compared["matched"]) == (3, 2)
        assert "app.accounts" not in compared["tables"]
        with pytest.raises(validate.ValidationFailed) as err:
            validate.validate(params, state, [], None, compared["tables"])
        assert "table app.accounts: content checksum differs" in str(err.value)
        assert "app.entries" not in str(err.value) and "app.flags" not in str(err.value)
    finally:
        pg_target.execute("UPDATE app.ledger_accounts SET holder = 'owner 42' WHERE id = 42", dbname=target)
    report = validate.validate(params, state, [], None, compared["tables"])   # fixed: read again, not reused
    assert {t["table"]: t.get("compared_by") for t in report["tables"]} == {
        "app.accounts": None, "app.entries": "compare_rows", "app.flags": "compare_rows"}


def test_a_source_write_after_compare_rows_still_fails_validate(migrated, pg_source):
    params, state, source, _, _ = migrated
    state = counted_now(params, state)
    compared = compare_rows.compare_rows(params, state)
    assert compared["matched"] == 3
    pg_source.execute("UPDATE app.flags SET on_off = on_off WHERE name = 'a'", dbname=source)   # same content
    time.sleep(1.2)   # cumulative statistics reach the shared counters within a second of commit
    with pytest.raises(validate.ValidationFailed) as err:
        validate.validate(params, state, [], None, compared["tables"])
    assert "the source took writes during the migration (no incremental sync in this mode): app.flags" in str(err.value)


@pytest.mark.parametrize("recorded_for", ["other columns", "another target table", "a filter"])
def test_a_result_recorded_for_other_columns_or_table_is_not_reused(recorded_for, migrated, pg_target):
    params, state, _, target, _ = migrated
    state = counted_now(params, state)
    compared = compare_rows.compare_rows(params, state)
    entry = compared["tables"]["app.entries"]
    if recorded_for == "other columns":
        entry["columns"] = entry["columns"][:2]
    elif recorded_for == "another target table":
        entry["target"] = "app.entries_old"
    else:
        entry["condition"] = "amount > 0"
    # a target row changed after the read: reused, the result would hide it (the window docs/validation.md names)
    pg_target.execute("UPDATE app.entries SET note = 'changed' WHERE amount = 7", dbname=target)
    try:
        with pytest.raises(validate.ValidationFailed) as err:
            validate.validate(params, state, [], None, compared["tables"])
        assert "table app.entries: content checksum differs" in str(err.value)
    finally:
        pg_target.execute("UPDATE app.entries SET note = 'n' WHERE amount = 7", dbname=target)
