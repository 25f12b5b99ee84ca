"""pgferry's application_name (pg/session_names): which try of which task instance, in 63 bytes, read back."""
import pytest
from psycopg.conninfo import conninfo_to_dict

from include.pgferry.pg import session_names
from include.pgferry.pg.endpoint import PgEndpoint
from include.pgferry.pg.session_names import TaskIdentity, parse

LONG_DAG = "pgferry_scheduled_migration_of_the_orders_database_eu_west_1_nightly"
LONG_RUN = "scheduled__2026-12-03T02:00:00.123456+00:00_with_a_long_suffix_" + "x" * 150


def test_a_lane_session_names_run_task_map_index_try_and_unit_and_reads_back():
    me = TaskIdentity("postgres_logical_migration", "manual__2026-12-03T10:00:00+00:00", "copy_lane", 3, 2)
    name = me.application_name("copy", unit=5)
    assert name.startswith(f"pgferry {me.run_key} copy_lane[3] try 2 u5 copy postgres_logical")
    assert parse(name) == session_names.SessionName(me.run_key, "copy_lane", 3, 2, 5, "copy")


@pytest.mark.parametrize("role", ["copy", "index build", "validate keys"])
def test_every_name_fits_in_63_bytes_even_for_long_ids_and_keeps_its_identity(role):
    me = TaskIdentity(LONG_DAG, LONG_RUN, "triggers_and_foreign_keys", 31, 12)
    name = me.application_name(role, unit=123)
    assert len(name.encode()) <= 63
    parsed = parse(name)
    assert (parsed.run_key, parsed.task_id, parsed.map_index, parsed.try_number, parsed.unit) == \
        (me.run_key, "triggers_and_foreign_keys", 31, 12, 123)


def test_the_run_key_tells_runs_and_dags_apart():
    a = TaskIdentity("dag_a", "run_1", "copy_lane", 0, 1)
    assert a.run_key != TaskIdentity("dag_a", "run_2", "copy_lane", 0, 1).run_key
    assert a.run_key != TaskIdentity("dag_b", "run_1", "copy_lane", 0, 1).run_key
    assert a.run_key == TaskIdentity("dag_a", "run_1", "validate", -1, 1).run_key


def test_earlier_tries_of_the_same_lane_are_told_from_siblings_and_other_runs():
    me = TaskIdentity("d", "r", "copy_lane", 1, 3)
    earlier = parse(TaskIdentity("d", "r", "copy_lane", 1, 2).application_name("index build"))
    first = parse(TaskIdentity("d", "r", "copy_lane", 1, 1).application_name("copy", unit=2))
    sibling = parse(TaskIdentity("d", "r", "copy_lane", 0, 3).application_name("copy", unit=1))
    other_run = parse(TaskIdentity("d", "r2", "copy_lane", 1, 1).application_name("copy"))
    other_task = parse(TaskIdentity("d", "r", "structure", -1, 1).application_name("structure"))
    mine_now = parse(me.application_name("index build"))
    assert [me.is_earlier_try_of_me(n) for n in (earlier, first, sibling, other_run, other_task, mine_now)] == \
        [True, True, False, False, False, False]
    assert [me.is_sibling(n) for n in (earlier, first, sibling, other_run, other_task, mine_now, None)] == \
        [False, False, True, False, False, True, False]


@pytest.mark.parametrize("name", [None, "", "psql", "pgferry copy", "pgferry-bench sampler",
                                  "pgferry zzzzzzzz copy_lane[1] try 2 copy"])
def test_other_sessions_have_no_identity(name):
    assert parse(name) is None


def test_an_unmapped_task_has_no_map_index():
    name = TaskIdentity("d", "r", "structure", -1, 1).application_name("structure")
    assert parse(name).map_index == -1 and " structure try 1 structure d" in name


def test_connections_carry_the_configured_identity_and_only_then(monkeypatch):
    seen = {}
    monkeypatch.setattr("psycopg.connect", lambda **kw: seen.update(kw))
    ep = PgEndpoint("t", "h", 5432, "db", "u")
    try:
        session_names.configure(None)
        ep.connect(application_name="pgferry copy")
        assert seen["application_name"] == "pgferry copy"
        me = TaskIdentity("d", "r", "copy_lane", 0, 2)
        session_names.configure(me)
        ep.connect(application_name="pgferry index build")
        assert parse(seen["application_name"]) == parse(me.application_name("index build"))
        dump = conninfo_to_dict(ep.tool_conninfo("pgferry schema dump"))["application_name"]
        assert parse(dump) == parse(me.application_name("schema dump"))
    finally:
        session_names.configure(None)
