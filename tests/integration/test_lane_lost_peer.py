"""A copy lane that has lost its peer stops taking units, on real clusters.

The peer is stopped from inside the first unit's COPY, so the moment is the same on every run: the first
unit's target table has a CHECK constraint whose plpgsql function runs `pg_ctl stop -m immediate` through
`COPY ... TO PROGRAM` (as the server's own OS user, superuser session) on the row with id 1. Stopping the
target kills the very backend loading the unit; stopping the source (a throwaway source cluster whose first
table is larger than the socket buffers, so its COPY is still streaming) ends the lane's source session
mid-unit while the target stays up. Every reconnect is then refused, as after a dropped network each would
wait the connect timeout: the lane must not try the two units left.
"""
from __future__ import annotations

import logging
import time

import psycopg
import pytest
from psycopg import sql

from include.pgferry.failures import permanent_reason
from include.pgferry.logical import copy_lane, plan_lanes, precheck, structure
from include.pgferry.logical.common import INDEX_SESSION
from include.pgferry.logical.table_finisher import TableFinisher, TargetLost
from include.pgferry.model import QualifiedName
from include.pgferry.pg.endpoint import PgEndpoint
from localstack import airflow_env
from localstack.pgcluster import PgCluster
from tests.support.migration import data_rows, schema_lines

pytestmark = pytest.mark.integration

SOURCE_DB = "lost_peer"
TARGET_DB = "lost_peer"
NOT_TRIED = ("app.middle", "app.small")


@pytest.fixture(scope="module", autouse=True)
def airflow_logging():
    """Airflow configures logging when first imported (here by the connection lookups), which takes pytest's
    capture handler off the root logger: imported before a test's capture starts."""
    import airflow  # noqa: F401


@pytest.fixture(scope="module")
def lost_target(cluster_root):
    """A target cluster of this module's own, which the tests stop."""
    c = PgCluster(cluster_root, "lost-target").start()
    yield c
    c.destroy()


@pytest.fixture(scope="module")
def lost_source(cluster_root):
    """A source cluster of this module's own, which the source test stops."""
    c = PgCluster(cluster_root, "lost-source").start()
    fill_source(c, first_rows=300_000)      # app.big: ~45 MB, more than the socket buffers hold
    yield c
    c.destroy()


def fill_source(cluster: PgCluster, first_rows: int):
    """Three tables, each its own unit, largest first: app.big, app.middle, app.small."""
    cluster.recreate_db(SOURCE_DB)
    cluster.execute(f"""
        CREATE SCHEMA app;
        CREATE TABLE app.big (id bigint PRIMARY KEY, payload text NOT NULL);
        CREATE TABLE app.middle (id bigint PRIMARY KEY, payload text NOT NULL);
        CREATE TABLE app.small (id bigint PRIMARY KEY, payload text NOT NULL);
        INSERT INTO app.big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, {first_rows}) g;
        INSERT INTO app.middle SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
        INSERT INTO app.small SELECT g, md5(g::text) FROM generate_series(1, 500) g;
        ANALYZE;
    """, dbname=SOURCE_DB)


@pytest.fixture(scope="module")
def small_source(pg_source):
    fill_source(pg_source, first_rows=5_000)
    yield pg_source
    pg_source.execute(f'DROP DATABASE IF EXISTS "{SOURCE_DB}" WITH (FORCE)')


def started_again(cluster: PgCluster, timeout: float = 60):
    """The cluster up and accepting connections: started again once the stop the test caused has ended
    (its postmaster.pid gone; before that, start() would take the stopping server for a running one)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with cluster.connect():
                return
        except psycopg.OperationalError:
            pass
        if not (cluster.datadir / "postmaster.pid").exists():
            cluster.start()
            cluster.wait_ready()
            return
        assert time.monotonic() < deadline, f"{cluster.name} neither answered nor stopped within {timeout} s"
        time.sleep(0.2)


@pytest.fixture
def target_up(lost_target):
    """A fresh target database; the target cluster is started again after the test, whatever happened."""
    started_again(lost_target)
    lost_target.recreate_db(TARGET_DB)
    yield lost_target
    started_again(lost_target)


def lane_of(source: PgCluster, target: PgCluster) -> tuple[dict, list]:
    """(params, the one lane): the structure restored on the target, the units planned, largest first."""
    airflow_env.postgres_connection("pgferry_source", source.port, SOURCE_DB)
    airflow_env.postgres_connection("pgferry_target", target.port, TARGET_DB)
    params = {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target", "parallelism": 1,
              "objects": ["app"]}
    state = precheck.precheck(params)
    structure.structure(params, state)
    (lane,) = plan_lanes.plan_lanes(params, state)["lanes"]
    assert [u["id"] for u in lane] == ["app.big", *NOT_TRIED]
    return params, lane


def stop_on_first_row(target: PgCluster, stopped: PgCluster):
    """The first unit's target table stops `stopped` from inside the COPY, on its row with id 1."""
    command = f"{stopped.bindir / 'pg_ctl'} stop -m immediate -D {stopped.datadir}"
    target.execute(sql.SQL("""
        CREATE FUNCTION app.stop_a_server(id bigint) RETURNS boolean LANGUAGE plpgsql AS $f$
        BEGIN
          IF id = 1 THEN
            EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', {command});
          END IF;
          RETURN true;
        END $f$;
        ALTER TABLE app.big ADD CONSTRAINT stops_a_server CHECK (app.stop_a_server(id));
    """).format(command=sql.Literal(command)), dbname=TARGET_DB)


def lane_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pgferry"]


def assert_stopped_taking_units(failed, caplog, side: str, endpoint: PgCluster):
    note = "".join(failed.value.__notes__)
    assert f"pgferry: lost the {side} (" in note, note
    assert "after unit app.big: stopped taking units; 2 unit(s) not tried (app.middle, app.small) are left " \
           "for the retry." in note, note
    assert permanent_reason(failed.value) is None, "a lost peer must stay retryable"
    lines = lane_lines(caplog)
    assert any(line.startswith("copy of app.big failed: ") for line in lines), lines
    for unit in NOT_TRIED:
        assert not any(f"copy of {unit} failed" in line for line in lines), lines
    lost = [line for line in lines if line.startswith("lost the ")]
    assert len(lost) == 1, lines
    assert lost[0].startswith(f"lost the {side} pgferry_{side} (127.0.0.1:{endpoint.port}): "), lost[0]
    assert "2 unit(s) not tried: app.middle, app.small" in lost[0], lost[0]


def test_a_lane_that_lost_its_target_stops_taking_units(small_source, target_up, caplog):
    source, target = small_source, target_up
    params, lane = lane_of(source, target)
    schema_before, rows_before = schema_lines(source, SOURCE_DB), data_rows(source, SOURCE_DB)
    stop_on_first_row(target, target)
    caplog.set_level(logging.INFO, logger="pgferry")
    with pytest.raises(psycopg.OperationalError) as failed:
        copy_lane.copy_lane(params, lane)
    assert_stopped_taking_units(failed, caplog, "target", target)
    # the source is untouched, and nothing of any unit committed on the target
    assert schema_lines(source, SOURCE_DB) == schema_before
    assert data_rows(source, SOURCE_DB) == rows_before
    started_again(target)
    assert target.query("SELECT (SELECT count(*) FROM app.big) + (SELECT count(*) FROM app.middle) + "
                        "(SELECT count(*) FROM app.small)", TARGET_DB) == [(0,)]


def test_a_lane_that_lost_its_source_stops_taking_units(lost_source, target_up, caplog):
    source, target = lost_source, target_up
    params, lane = lane_of(source, target)
    rows_before = source.query("SELECT (SELECT count(*) FROM app.big), (SELECT count(*) FROM app.middle), "
                               "(SELECT count(*) FROM app.small)", SOURCE_DB)
    stop_on_first_row(target, source)
    caplog.set_level(logging.INFO, logger="pgferry")
    try:
        with pytest.raises(psycopg.OperationalError) as failed:
            copy_lane.copy_lane(params, lane)
        assert_stopped_taking_units(failed, caplog, "source", source)
        # the target stayed up: the first unit rolled back, the others were never loaded
        assert target.query("SELECT (SELECT count(*) FROM app.big) + (SELECT count(*) FROM app.middle) + "
                            "(SELECT count(*) FROM app.small)", TARGET_DB) == [(0,)]
    finally:
        started_again(source)
    assert source.query("SELECT (SELECT count(*) FROM app.big), (SELECT count(*) FROM app.middle), "
                        "(SELECT count(*) FROM app.small)", SOURCE_DB) == rows_before


def test_a_finisher_that_cannot_reach_the_target_tries_the_next_tables_no_more(target_up):
    """Each connect to a target gone silent waits the connect timeout: the finisher pays it once, not once per
    table it was handed."""
    target_up.stop()
    endpoint = PgEndpoint(conn_id="lost_target", host="127.0.0.1", port=target_up.port, dbname=TARGET_DB,
                          user="postgres")
    with TableFinisher(endpoint, INDEX_SESSION) as finisher:
        for name in ("big", "middle", "small"):
            finisher.submit(QualifiedName("app", name), [], {})
        with pytest.raises(psycopg.OperationalError):
            finisher.wait()
        later = [f.exception() for f in finisher._futures[1:]]
    assert [type(e) for e in later] == [TargetLost, TargetLost], later
    assert all("the finisher could not connect to the target before (connection failed: " in str(e)
               for e in later), later
