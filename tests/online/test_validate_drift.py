"""DDL on the source during an online run is not replicated: validate (the online DAG's, tasks.validate_online)
names each object that differs between the sides, table by table, with what to do, and still reads what it
can (a column or a table gone from the source is named, not read).

One migration (the logical DAG, dag.test) serves every case: each makes one DDL change on the source, runs
the online validate with the run's state, asserts the problems it names, and undoes the change; the table
dropped last is not restored."""
from __future__ import annotations

import pytest

from include.pgferry.logical.validate import ValidationFailed
from include.pgferry.online import tasks
from tests.support.migration import migrated_databases

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

ADVICE = "(DDL during the run is not replicated: apply it on the target, or abort and start again)"
SOURCE_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, v text, w int, note text);
INSERT INTO app.t SELECT g, md5(g::text), g FROM generate_series(1, 200) g;
CREATE TABLE app.gone (id int PRIMARY KEY);
INSERT INTO app.gone SELECT generate_series(1, 10);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
"""
# the DDL, how it is undone, the problems the online validate must name (and no other)
CHANGES = {
    "column added": ("ALTER TABLE app.t ADD COLUMN x int", "ALTER TABLE app.t DROP COLUMN x",
                     [f"table app.t: column x on the source only {ADVICE}"]),
    "column dropped": ("ALTER TABLE app.t DROP COLUMN note", "ALTER TABLE app.t ADD COLUMN note text",   # all null
                       [f"table app.t: column note on the target only {ADVICE}"]),
    "column retyped": ("ALTER TABLE app.t ALTER COLUMN w TYPE bigint", "ALTER TABLE app.t ALTER COLUMN w TYPE int",
                       [f"table app.t: column w is bigint on the source, integer on the target {ADVICE}"]),
    "index added": ("CREATE INDEX t_w_idx ON app.t (w)", "DROP INDEX app.t_w_idx",
                    [f"table app.t: index t_w_idx on the source only {ADVICE}",
                     "index: 3 on the source, 2 on the target"]),
    "trigger added": ("CREATE TRIGGER t_touch BEFORE UPDATE ON app.t FOR EACH ROW EXECUTE FUNCTION app.touch()",
                      "DROP TRIGGER t_touch ON app.t",
                      [f"table app.t: trigger t_touch on the source only {ADVICE}",
                       "trigger: 1 on the source, 0 on the target"]),
    "table created": ("CREATE TABLE app.fresh (id int PRIMARY KEY); INSERT INTO app.fresh VALUES (1)",
                      "DROP TABLE app.fresh",
                      [f"table app.fresh: on the source only, not in the run's plan {ADVICE}"]),
}


@pytest.fixture(scope="module")
def migrated(airflow_db, pg_source, pg_target):
    with migrated_databases(pg_source, pg_target, "drift", SOURCE_SQL, objects=["app"]) as (params, state, source, _):
        # as the online DAG's state: its names, and the write counters its freeze took
        state["online"] = {"slot": "pgferry_drift", "temporary_slot": "pgferry_drift_tmp",
                           "publication": "pgferry_drift"}
        yield params, state, source


def online_validate(params, state) -> dict:
    return tasks.validate_online(params, state, {"write_counters": state["write_counters"]}, [])


def problems_of(params, state) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        online_validate(params, state)
    return str(failed.value).split("\n  ")[1:]


def test_no_ddl_no_problem(migrated):
    params, state, _ = migrated
    assert online_validate(params, state)["ok"]


@pytest.mark.parametrize("case", list(CHANGES))
def test_ddl_on_the_source_is_named_at_validate(case, migrated, pg_source):
    params, state, db = migrated
    ddl, undo, expected = CHANGES[case]
    pg_source.execute(ddl, dbname=db)
    try:
        problems = problems_of(params, state)
    finally:
        pg_source.execute(undo, dbname=db)
    assert problems == expected, problems
    assert online_validate(params, state)["ok"]          # undone: nothing left behind by the case


def test_a_table_dropped_on_the_source_is_named_not_read(migrated, pg_source):
    params, state, db = migrated
    pg_source.execute("DROP TABLE app.gone", dbname=db)
    assert problems_of(params, state) == [f"table app.gone: gone from the source, still on the target {ADVICE}",
                                          "index: 1 on the source, 2 on the target",
                                          "primary key: 1 on the source, 2 on the target",
                                          "table: 1 on the source, 2 on the target"]

