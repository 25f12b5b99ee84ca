"""migrations.yaml entries, rule by rule: the Param schemas decide what a field accepts, every problem names
the entry and the field, all problems at once, names unique, an empty value means "not given"."""
from __future__ import annotations

from datetime import timedelta

import pytest

from include.pgferry.migration_params import migration_params
from include.pgferry.schedule.declared import DeclarationError, describe, entry_schema, load, parse
from localstack import ROOT

GOOD = {"name": "n1", "source_conn_id": "s", "target_conn_id": "t",
        "window": {"cron": "30 2 * * *", "timezone": "Asia/Shanghai", "length": "3h"}}


def problems_of(entry: dict) -> list[str]:
    with pytest.raises(DeclarationError) as e:
        parse({"migrations": [entry]})
    return e.value.problems


def test_the_repository_declaration_parses():
    declared = load(ROOT / "migrations.yaml")
    assert declared and all(d.window.timezone for d in declared)


@pytest.mark.parametrize("mutate, field", [
    (lambda m: m.pop("target_conn_id"), "migrations[0] (n1).target_conn_id: required"),
    (lambda m: m.update(parallelism=0), "migrations[0] (n1).parallelism: 0 must be a whole number from 1 to 32"),
    (lambda m: m.update(parallelism=33), "migrations[0] (n1).parallelism: 33"),
    (lambda m: m.update(migration_types=["schema"]), "migrations[0] (n1).migration_types"),
    (lambda m: m.update(objects="shop"), "migrations[0] (n1).objects: must be a list"),
    (lambda m: m.update(rename=["shop"]), "migrations[0] (n1).rename"),
    (lambda m: m.update(name="Shop Nightly"), "migrations[0] (Shop Nightly).name"),
    (lambda m: m.update(colour="blue"), "migrations[0] (n1).colour: unknown field"),
    (lambda m: m.pop("window"), "migrations[0] (n1).window: required"),
    (lambda m: m["window"].update(cron="30 2 * *"), "migrations[0] (n1).window.cron: '30 2 * *' is not a cron"),
    (lambda m: m["window"].update(length="3 days"), "migrations[0] (n1).window.length"),
    (lambda m: m["window"].pop("timezone"), "migrations[0] (n1).window.timezone: required"),
])
def test_validation_errors_name_the_bad_field(mutate, field):
    entry = {"name": "n1", "source_conn_id": "s", "target_conn_id": "t",
             "window": {"cron": "30 2 * * *", "timezone": "Asia/Shanghai", "length": "3h"}}
    mutate(entry)
    with pytest.raises(DeclarationError) as e:
        parse({"migrations": [entry]})
    assert field in str(e.value)


def test_every_problem_is_reported_at_once_and_names_must_be_unique():
    good = {"name": "n1", "source_conn_id": "s", "target_conn_id": "t",
            "window": {"cron": "30 2 * * *", "timezone": "UTC", "length": 60}}
    bad = {**good, "name": "n2", "parallelism": 99, "window": {"cron": "x", "timezone": "Mars/Base", "length": "1h"}}
    with pytest.raises(DeclarationError) as e:
        parse({"migrations": [good, dict(good), bad]})
    assert e.value.problems == [
        "migrations[1] (n1).name: 'n1' is declared twice",
        "migrations[2] (n2).parallelism: 99 must be a whole number from 1 to 32",
        "migrations[2] (n2).window.cron: 'x' is not a cron expression (minute hour day-of-month month day-of-week)",
        "migrations[2] (n2).window.timezone: unknown time zone 'Mars/Base' (an IANA name such as Asia/Shanghai)",
    ]


def test_rule_each_migration_field_is_checked_by_its_params_own_schema():
    schema = entry_schema()
    for key, param in migration_params().items():
        assert schema["properties"][key] == param.schema, key
    assert set(schema["properties"]) == {"name", "description", "window", *migration_params()}


@pytest.mark.parametrize("key, value, message", [
    ("parallelism", 4.5, "parallelism: must be a whole number from 1 to 32, not a number"),
    ("parallelism", True, "parallelism: must be a whole number from 1 to 32, not true/false"),
    ("keep_owners", "yes", "keep_owners: must be true or false, not a string"),
    ("target_free_bytes", -1, "target_free_bytes: -1 must be empty or a whole number of at least 0"),
    ("migration_types", ["data", "data"], "migration_types: ['data', 'data'] must be a non-empty list of "
                                          "structure and/or data, each once"),
    ("objects", ["shop", ""], "objects: ['shop', ''] must be a list of non-empty strings"),
    ("source_conn_id", "", "source_conn_id: '' must be a non-empty string"),
    ("rename", {"shop": ""}, "rename: {'shop': ''} must be a mapping of source names to new names"),
])
def test_rule_a_value_the_param_would_refuse_is_refused_naming_entry_and_field(key, value, message):
    [problem] = problems_of({**GOOD, key: value})
    assert problem == f"migrations[0] (n1).{message}" or problem.startswith(f"migrations[0] (n1).{message}")


def test_rule_a_required_connection_says_what_it_is():
    [problem] = problems_of({k: v for k, v in GOOD.items() if k != "source_conn_id"})
    assert problem == ("migrations[0] (n1).source_conn_id: required, Id of the Airflow connection (type postgres) "
                       "to the source database")


def test_rule_the_window_is_also_checked_against_the_window_param():
    # croniter accepts @daily, but the window Param (cron: at least 9 characters) would refuse it on trigger
    [problem] = problems_of({**GOOD, "window": {**GOOD["window"], "cron": "@daily"}})
    assert problem == "migrations[0] (n1).window.cron: '@daily' must be a string of at least 9 characters (the window Param)"


def test_rule_window_shape_errors_name_the_window_field():
    assert problems_of({**GOOD, "window": "nightly"}) == ["migrations[0] (n1).window: must be a mapping, not a string"]
    assert problems_of({**GOOD, "window": {**GOOD["window"], "timezone": 8, "tz": "UTC"}}) == [
        "migrations[0] (n1).window.timezone: must be a string, not a number",
        "migrations[0] (n1).window.tz: unknown field (known: cron, timezone, length)"]


def test_rule_an_empty_value_means_the_params_default():
    [declared] = parse({"migrations": [{**GOOD, "objects": None, "rename": None, "parallelism": 3}]})
    assert declared.params == {"source_conn_id": "s", "target_conn_id": "t", "parallelism": 3}
    assert declared.window.length == timedelta(hours=3)
    assert declared.dag_id == "scheduled_migration_n1"


def test_rule_a_file_without_a_migrations_list_is_refused():
    with pytest.raises(DeclarationError, match="a list under `migrations`"):
        parse({"migrations": {"name": "n1"}})
    with pytest.raises(DeclarationError, match=r"migrations\[0\]: must be a mapping"):
        parse({"migrations": ["n1"]})


def test_rule_describe_puts_a_schema_in_words():
    assert describe({"type": "integer", "minimum": 1, "maximum": 32}) == "a whole number from 1 to 32"
    assert describe({"type": ["null", "integer"], "minimum": 0}) == "empty or a whole number of at least 0"
    assert describe({"type": "array", "items": {"type": "string", "minLength": 1}}) == "a list of non-empty strings"
