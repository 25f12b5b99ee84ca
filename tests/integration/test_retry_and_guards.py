"""Steps retried alone: a copy killed mid-stream, a foreign key that breaks, writes on the source."""
import threading
import time

import psycopg
import pytest

from include.pgferry.logical import (copy_lane, finalize, plan_lanes, precheck, sequences, structure,
                                     triggers_and_foreign_keys, validate)
from include.pgferry.logical.units import plan_units
from include.pgferry.model import Plan
from include.pgferry.pg.ddl import DdlError, describe_statement
from tests.support.migration import data_rows

pytestmark = pytest.mark.integration

BIG_ROWS = 400_000


@pytest.fixture(scope="module")
def big_db(pg_source):
    """A table big enough that its copy is still streaming when the test kills it."""
    pg_source.recreate_db("retry")
    pg_source.execute(f"""
        CREATE SCHEMA app;
        CREATE TABLE app.parents (id int PRIMARY KEY, name text NOT NULL);
        CREATE TABLE app.events (id bigint PRIMARY KEY, parent_id int REFERENCES app.parents(id),
                                 payload text, at timestamptz NOT NULL);
        CREATE TABLE app.tags (event_id bigint, tag text);   -- no primary key: a whole-table unit
        INSERT INTO app.parents SELECT g, 'p' || g FROM generate_series(1, 100) g;
        INSERT INTO app.events SELECT g, g % 100 + 1, repeat(md5(g::text), 6), '2024-01-01'::timestamptz + g * interval '1 s'
          FROM generate_series(1, {BIG_ROWS}) g;
        INSERT INTO app.tags SELECT g % 1000, 't' || (g % 7) FROM generate_series(1, 20000) g;
        INSERT INTO app.tags SELECT g % 1000, 't' || (g % 7) FROM generate_series(1, 20000) g;  -- duplicates
        ANALYZE;
    """, dbname="retry")
    return "retry"


def prepared(params):
    state = precheck.precheck(params)
    structure.structure(params, state)
    return state


def kill_first_copy(port, dbname, pattern, killed: list, done: threading.Event):
    """Terminate the backend of the first running COPY matching `pattern` (polled without pause: on a quiet
    machine a unit streams in well under 100 ms); give up when `done` is set."""
    with psycopg.connect(f"host=127.0.0.1 port={port} dbname=postgres user=postgres", autocommit=True) as c:
        while not done.is_set() and not killed:
            rows = c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND query LIKE %s "
                             "AND state = 'active' AND pid <> pg_backend_pid()", (dbname, pattern)).fetchall()
            for (pid,) in rows:
                c.execute("SELECT pg_terminate_backend(%s)", (pid,))
                killed.append(pid)


@pytest.mark.parametrize("side", ["target", "source"])
def test_a_copy_killed_mid_stream_and_retried_leaves_an_exact_copy(side, big_db, pg_source, pg_target, target_db,
                                                                    connections):
    params = {**connections(big_db), "objects": ["app"]}
    state = prepared(params)
    with psycopg.connect(pg_source.dsn(big_db)) as src:
        lanes = plan_units(src, Plan.from_xcom(state["plan"]), lanes=1, binary_ok=True, split_bytes=30 * 1024 * 1024)
    lane = lanes[0].to_xcom()
    assert sum(1 for u in lane if u["range"]) >= 3, "the big table must be cut into key ranges"

    killed = []
    victim = (pg_target.port, target_db, "COPY %FROM STDIN%") if side == "target" else \
        (pg_source.port, big_db, "COPY (SELECT %TO STDOUT%")
    done = threading.Event()
    killer = threading.Thread(target=kill_first_copy, args=(*victim, killed, done))
    killer.start()
    try:
        with pytest.raises(psycopg.OperationalError):
            copy_lane.copy_lane(params, lane)
    finally:
        done.set()
        killer.join()
    assert killed, "the test must have interrupted a COPY"
    # the interrupted unit rolled back; units before it committed: the target holds a strict subset
    partial = pg_target.query("SELECT count(*) FROM app.events", target_db)[0][0]
    assert partial < BIG_ROWS

    results = copy_lane.copy_lane(params, lane)     # the retry: same lane, every unit clears its own rows first
    assert sum(r["rows"] for r in results if r["id"].startswith("app.events")) == BIG_ROWS
    assert data_rows(pg_target, target_db) == data_rows(pg_source, big_db)
    # and once more, as if the task were cleared after success: still no duplicate
    copy_lane.copy_lane(params, lane)
    assert pg_target.query("SELECT count(*) FROM app.tags", target_db) == [(40000,)]
    assert data_rows(pg_target, target_db) == data_rows(pg_source, big_db)


def test_every_step_can_run_twice(big_db, pg_source, pg_target, target_db, connections):
    params = {**connections(big_db), "objects": ["app"]}
    state = prepared(params)
    assert structure.structure(params, state)["skipped"] is True        # a retry after commit
    copies = []
    planned = plan_lanes.plan_lanes(params, state)
    for lane in planned["lanes"]:
        copies.append(copy_lane.copy_lane(params, lane))
        copies[-1] = copy_lane.copy_lane(params, lane)
    after_the_lanes(params, state, planned["post_data"])
    after_the_lanes(params, state, planned["post_data"])    # every step again, as if cleared
    report = validate.validate(params, state, copies)
    assert report["ok"], report["problems"]


def after_the_lanes(params, state, post_data):
    """The steps after the copy lanes, in the DAG's order (sequences run next to the lanes)."""
    sequences.sequences(params, state)
    triggers_and_foreign_keys.triggers_and_foreign_keys(params, state, post_data)
    finalize.finalize(params, state, post_data)


def keys_step_after_losing_a_parent(params, pg_target, target_db, parents_table):
    """Load everything, delete parent 7 on the target, run the keys step: (state, post-data, its DdlError)."""
    state = prepared(params)
    planned = plan_lanes.plan_lanes(params, state)
    for lane in planned["lanes"]:
        copy_lane.copy_lane(params, lane)
    pg_target.execute(f"DELETE FROM {parents_table} WHERE id = 7", dbname=target_db)
    with pytest.raises(DdlError) as err:
        triggers_and_foreign_keys.triggers_and_foreign_keys(params, state, planned["post_data"])
    return state, planned["post_data"], err


def test_a_broken_foreign_key_names_itself_and_its_rows(big_db, pg_source, pg_target, target_db, connections):
    params = {**connections(big_db), "objects": ["app"]}
    _, _, err = keys_step_after_losing_a_parent(params, pg_target, target_db, "app.parents")
    msg = str(err.value)
    assert "foreign key events_parent_id_fkey on app.events does not hold" in msg
    assert "(parent_id)=(7)" in msg
    # the key stays, NOT VALID, so nothing is silently dropped
    assert pg_target.query("SELECT convalidated FROM pg_constraint WHERE conname = 'events_parent_id_fkey'",
                           target_db) == [(False,)]


def test_writes_on_the_source_during_the_run_fail_validation_naming_the_table(big_db, pg_source, pg_target,
                                                                               target_db, connections):
    params = {**connections(big_db), "objects": ["app"]}
    state = prepared(params)
    planned = plan_lanes.plan_lanes(params, state)
    copies = [copy_lane.copy_lane(params, lane) for lane in planned["lanes"]]
    after_the_lanes(params, state, planned["post_data"])
    pg_source.execute("UPDATE app.tags SET tag = tag WHERE event_id = 1", dbname=big_db)   # same content
    time.sleep(1.2)   # cumulative statistics reach the shared counters within a second of commit
    with pytest.raises(validate.ValidationFailed) as err:
        validate.validate(params, state, copies)
    assert "the source took writes during the migration (no incremental sync in this mode): app.tags" in str(err.value)
    assert "app.events" not in str(err.value).split("mode):")[1]


def test_a_lane_leaves_each_table_indexed_and_analyzed(big_db, pg_source, pg_target, target_db, connections):
    params = {**connections(big_db), "objects": ["app"]}
    state = prepared(params)
    planned = plan_lanes.plan_lanes(params, state)
    results = [r for lane in planned["lanes"] for r in copy_lane.copy_lane(params, lane)]
    assert pg_target.query("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'app.events'::regclass",
                           target_db) == [("app.events_pkey",)]
    analyzed = pg_target.query("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'app' ORDER BY 1", target_db)
    assert analyzed == [("events",), ("parents",), ("tags",)]   # foreign keys are validated with statistics
    assert all("analyze_seconds" in r for r in results if r["id"] in ("app.events", "app.tags"))
    assert finalize.finalize(params, state, planned["post_data"])["analyzed"] == 0     # nothing left for finalize to analyze


def test_an_index_that_cannot_be_built_fails_the_lane_naming_it(big_db, pg_source, pg_target, target_db, connections):
    params = {**connections(big_db), "objects": ["app"]}
    state = prepared(params)
    lanes = plan_lanes.plan_lanes(params, state)["lanes"]
    for lane in lanes:
        for unit in lane:
            if unit["id"] == "app.tags":   # tags holds duplicates: a unique index cannot exist on the target
                unit["index_builds"] = [describe_statement(
                    "CREATE UNIQUE INDEX tags_event_tag_key ON app.tags USING btree (event_id, tag)").to_xcom()]
    with pytest.raises(psycopg.errors.UniqueViolation, match="tags_event_tag_key"):
        for lane in lanes:
            copy_lane.copy_lane(params, lane)


@pytest.fixture(scope="module")
def partitioned_db(pg_source):
    pg_source.recreate_db("partfk")
    pg_source.execute("""
        CREATE TABLE parents (id int PRIMARY KEY);
        CREATE TABLE kids (id int, parent_id int REFERENCES parents(id), at date NOT NULL) PARTITION BY RANGE (at);
        CREATE TABLE kids_2024 PARTITION OF kids FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE kids_rest PARTITION OF kids DEFAULT;
        INSERT INTO parents SELECT generate_series(1, 50);
        INSERT INTO kids SELECT g, g % 50 + 1, date '2024-01-01' + g FROM generate_series(1, 1000) g;
    """, dbname="partfk")
    return "partfk"


def test_a_broken_key_on_a_partitioned_table_is_named_and_added_once_the_rows_are_fixed(
        partitioned_db, pg_source, pg_target, target_db, connections):
    params = {**connections(partitioned_db), "objects": ["public"]}
    state, post_data, err = keys_step_after_losing_a_parent(params, pg_target, target_db, "parents")
    assert "foreign key kids_parent_id_fkey on public.kids does not hold" in str(err.value)
    assert "(parent_id)=(7)" in str(err.value)
    # a partitioned table cannot keep a NOT VALID key: it is not there, and the message says so
    assert "on partitioned tables, not created" in str(err.value)
    assert pg_target.query("SELECT count(*) FROM pg_constraint WHERE conname = 'kids_parent_id_fkey'", target_db) == [(0,)]

    pg_target.execute("INSERT INTO parents VALUES (7)", dbname=target_db)   # the fix, then the task's retry
    assert triggers_and_foreign_keys.triggers_and_foreign_keys(params, state, post_data)["validated_foreign_keys"] == 1
    assert pg_target.query("SELECT convalidated FROM pg_constraint WHERE conname = 'kids_parent_id_fkey' "
                           "AND conrelid = 'kids'::regclass", target_db) == [(True,)]
