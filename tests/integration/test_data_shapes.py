"""Every table shape copies exactly, every retry is idempotent, a failed unit costs no other table its keys,
and large objects and publications move (issue 11). Fixtures: tests/support/sql/data_shapes.sql and
large_objects.sql; each result compared with the source by tests/support/compare.py."""
from pathlib import Path

import psycopg
import pytest

from include.pgferry.logical import (copy_lane, finalize, large_objects, plan_lanes, precheck, sequences, structure,
                                     triggers_and_foreign_keys, validate)
from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.support.compare import compare_databases
from tests.support.regression_db import pg_bindir

pytestmark = pytest.mark.integration

LO_OWNER = "pgferry_lo_owner"
SQL = Path(__file__).resolve().parents[1] / "support" / "sql"


@pytest.fixture(scope="module")
def shapes_db(pg_source):
    pg_source.recreate_db("shapes")
    pg_source.run_sql_file(SQL / "data_shapes.sql", "shapes")
    return "shapes"


@pytest.fixture(scope="module")
def lo_db(pg_source, pg_target):
    for cluster in (pg_source, pg_target):
        cluster.execute(f"DO $$BEGIN CREATE ROLE {LO_OWNER}; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    pg_source.recreate_db("blobs_only")
    pg_source.run_sql_file(SQL / "large_objects.sql", "blobs_only")
    return "blobs_only"


def differences(pg_source, source_db, pg_target, target_db) -> list[str]:
    result = compare_databases(pg_source.dsn(source_db), pg_target.dsn(target_db), pg_bindir())
    return [str(d) for d in result.differences]


def run_steps(params) -> tuple[dict, dict, list]:
    """The DAG's tasks in its order, called directly: (state, plan_lanes' output, copy results)."""
    state = precheck.precheck(params)
    structure.structure(params, state)
    planned = plan_lanes.plan_lanes(params, state)
    copies = [copy_lane.copy_lane(params, lane) for lane in planned["lanes"]]
    after_the_lanes(params, state, planned)
    return state, planned, copies


def after_the_lanes(params, state, planned):
    sequences.sequences(params, state)
    large_objects.large_objects(params, state)
    triggers_and_foreign_keys.triggers_and_foreign_keys(params, state, planned["post_data"])
    finalize.finalize(params, state, planned["post_data"])


def test_every_table_shape_migrates_exactly_through_the_dag(airflow_db, shapes_db, pg_source, pg_target, target_db,
                                                           connections):
    dr, states = run_dag(load_dag("postgres_logical_migration"), {**connections(shapes_db), "parallelism": 2})
    assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}
    report = xcom_value(dr, "validate")
    assert report["ok"] is True, report["problems"]
    # a shell operator (never dumped) is not counted, on either side
    assert "operator" not in {o["kind"] for o in report["objects"]}
    assert differences(pg_source, shapes_db, pg_target, target_db) == []
    q = lambda s: pg_target.query(s, target_db)  # noqa: E731
    # the row counts of tables COPY cannot name a column of
    assert q("SELECT (SELECT count(*) FROM shapes.no_columns), (SELECT count(*) FROM shapes.only_generated), "
             "(SELECT sum(g) FROM shapes.only_generated)") == [(7, 5, 210)]
    # COPY format per table, from the catalog: text where a type has no binary send/receive or sends an OID
    formats = {u["id"]: u["binary"] for lane in xcom_value(dr, "plan_lanes") for u in lane}
    assert formats["shapes.builtin_types"] is True and formats["shapes.big_row"] is True
    assert formats["shapes.no_binary_io"] is False          # aclitem, regclass, regtype, regprocedure
    assert formats["shapes.user_type_no_binary"] is False   # declared without send/receive
    assert formats["shapes.extension_types"] is False       # cube has no send/receive; an array of a user enum
    # publications, with their tables, column lists, row filters and schemas
    assert q("SELECT pubname, puballtables, pubinsert, pubupdate FROM pg_publication ORDER BY 1") == [
        ("shapes_all_builtin", False, True, True), ("shapes_schema", False, True, False)]
    assert q("SELECT count(*) FROM pg_publication_rel WHERE prqual IS NOT NULL AND prattrs IS NOT NULL") == [(1,)]
    # NOT VALID checks stayed NOT VALID (the rows that break them are there)
    assert report["dump_entries"]["differing"] == [] and report["dump_entries"]["entries"] > 50
    # validate holds the target to what pg_dump lists on the source, kind by kind: a lost comment is named
    pg_target.execute("COMMENT ON CONSTRAINT not_valid_check_positive ON shapes.not_valid_check IS NULL",
                      dbname=target_db)
    with pytest.raises(validate.ValidationFailed, match=r"pg_dump entries COMMENT: \d+ on the source, \d+ on the "
                                                        r"target; missing on the target: shapes CONSTRAINT "
                                                        r"not_valid_check_positive ON not_valid_check"):
        validate.validate({**connections(shapes_db), "parallelism": 2}, xcom_value(dr, "precheck"), [])
    pg_target.execute("COMMENT ON CONSTRAINT not_valid_check_positive ON shapes.not_valid_check IS "
                      "'old rows predate it'", dbname=target_db)
    assert q("SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE NOT convalidated AND contype = 'c' "
             "ORDER BY 1, 2") == [("-", "small_int_below_100"),   # a domain's
                                  ("shapes.not_valid_check", "not_valid_check_positive"),
                                  ("shapes.nv_child", "nv_child_extra_check"), ("shapes.nv_child", "nv_parent_v_check"),
                                  ("shapes.nv_parent", "nv_parent_v_check"), ("shapes.parted", "parted_k_small"),
                                  ("shapes.parted_high", "parted_k_small"), ("shapes.parted_low", "parted_k_small")]


CONSTRAINED = ["shapes.domain_not_valid", "shapes.not_valid_check", "shapes.nv_parent", "shapes.nv_child",
               "shapes.exclusion", "shapes.deferrable", "shapes.referencing", "shapes.parted"]


@pytest.mark.parametrize("objects", [[], CONSTRAINED], ids=["whole database", "constrained tables"])
def test_every_step_retried_after_the_constraints_exist_leaves_an_exact_copy(objects, shapes_db, pg_source, pg_target,
                                                                           target_db, connections):
    """Lanes retried after they built NOT VALID checks (inherited ones too), exclusion constraints, deferrable
    keys and partitioned tables' keys, and after the keys step: every step again, still exact."""
    params = {**connections(shapes_db), "parallelism": 2, "objects": objects}
    state, planned, _ = run_steps(params)
    copies = [copy_lane.copy_lane(params, lane) for lane in planned["lanes"]]   # the retried lanes
    after_the_lanes(params, state, planned)                                     # and every later step again
    report = validate.validate(params, state, copies)
    assert report["ok"], report["problems"]
    if not objects:
        assert differences(pg_source, shapes_db, pg_target, target_db) == []
    # the constraint set aside for the reload came back as it was: NOT VALID, with its comment
    assert pg_target.query("SELECT convalidated, obj_description(oid, 'pg_constraint') FROM pg_constraint "
                           "WHERE conname = 'not_valid_check_positive'", target_db) == [(False, "old rows predate it")]
    assert pg_target.query("SELECT count(*) FROM shapes.not_valid_check WHERE v <= 0", target_db) == [(5,)]
    assert pg_target.query("SELECT convalidated, obj_description(oid, 'pg_constraint') FROM pg_constraint "
                           "WHERE conname = 'small_int_below_100'", target_db) == [(False, "not for the old rows")]


def test_a_failed_unit_costs_the_other_tables_of_its_lane_nothing(shapes_db, pg_source, pg_target, target_db,
                                                                  connections):
    params = {**connections(shapes_db), "parallelism": 1}
    state = precheck.precheck(params)
    structure.structure(params, state)
    planned = plan_lanes.plan_lanes(params, state)
    (lane,) = planned["lanes"]
    assert lane[0]["id"] == "shapes.big_row"          # the first unit of the lane fails ...
    pg_target.execute("ALTER TABLE shapes.big_row ADD CONSTRAINT refuse_every_row CHECK (false)", dbname=target_db)
    with pytest.raises(psycopg.errors.CheckViolation) as failed:
        copy_lane.copy_lane(params, lane)
    assert "1 unit(s) of this lane failed: shapes.big_row" in "".join(failed.value.__notes__)
    q = lambda s: pg_target.query(s, target_db)  # noqa: E731
    # ... and every other table of the lane is loaded, indexed, keyed and analyzed
    assert q("SELECT count(*) FROM shapes.builtin_types") == [(200,)]
    assert q("SELECT count(*) FROM shapes.big_row") == [(0,)]
    built = {r[0] for r in q("SELECT conname FROM pg_constraint WHERE connamespace = 'shapes'::regnamespace")}
    assert {"builtin_types_pkey", "toasted_pkey", "exclusion_during_excl", "deferrable_pk", "deferrable_ref",
            "not_valid_check_positive"} <= built
    assert "big_row_pkey" not in built
    assert q("SELECT count(DISTINCT tablename) FROM pg_stats WHERE schemaname = 'shapes' AND tablename = 'toasted'") \
        == [(1,)]
    # the fix, then the lane's retry: the failed table loads and gets its keys; the others are skipped
    pg_target.execute("ALTER TABLE shapes.big_row DROP CONSTRAINT refuse_every_row", dbname=target_db)
    copies = [copy_lane.copy_lane(params, lane)]
    after_the_lanes(params, state, planned)
    report = validate.validate(params, state, copies)
    assert report["ok"], report["problems"]
    assert differences(pg_source, shapes_db, pg_target, target_db) == []


def test_a_database_of_large_objects_alone_migrates_with_owners_privileges_and_content(
        airflow_db, lo_db, pg_source, pg_target, target_db, connections):
    dr, states = run_dag(load_dag("postgres_logical_migration"), {**connections(lo_db), "parallelism": 2})
    assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}
    assert xcom_value(dr, "large_objects")["large_objects"] == 4
    assert xcom_value(dr, "validate")["large_objects"] == {"source": 4, "target": 4, "differing": []}
    assert differences(pg_source, lo_db, pg_target, target_db) == []   # owner, ACL, content md5 of each
    assert pg_target.query("SELECT pg_get_userbyid(lomowner), lomacl::text FROM pg_largeobject_metadata "
                           "WHERE oid = 1003", target_db) == \
        pg_source.query("SELECT pg_get_userbyid(lomowner), lomacl::text FROM pg_largeobject_metadata WHERE oid = 1003",
                        lo_db)
    # a retry of the step replaces what it finds, never duplicates or fails on "already exists"
    params = {**connections(lo_db), "parallelism": 2}
    plan_state = xcom_value(dr, "precheck")
    assert large_objects.large_objects(params, plan_state)["large_objects"] == 4
    assert differences(pg_source, lo_db, pg_target, target_db) == []
    # validation compares content, not only the count: a changed object is named
    pg_target.execute("SELECT lo_put(1002, 10, '\\xdeadbeef'::bytea)", dbname=target_db)
    with pytest.raises(validate.ValidationFailed, match=r"large objects differ: 1002 \(content differs\)"):
        validate.validate(params, plan_state, [])
