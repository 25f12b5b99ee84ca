"""Big tables without a single-column integer key (a uuid key, a text key, a composite key, no key at all) are
cut into ranges of physical blocks (ctid ranges) and load across both lanes, exactly; a retried lane neither
duplicates nor loses rows (each block range records itself as loaded in the transaction of its COPY:
logical/loaded_blocks.py); another cut of a table is refused, named; a PostgreSQL 13 source keeps such a
table whole. Real clusters: the suite's 15 and 15, and a pinned 13 (`make pg-majors`) for the version rule."""
from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import sql

from include.pgferry.logical import copy_lane, copying, finalize, loaded_blocks, plan_lanes, precheck, structure
from include.pgferry.logical.units import plan_units
from include.pgferry.model import Lane, Plan, QualifiedName
from include.pgferry.pg import session_names
from include.pgferry.pg.session_names import TaskIdentity
from localstack import airflow_env, pg_majors
from localstack.pgcluster import PgCluster

pytestmark = pytest.mark.integration

DB = "block_splits"
ROWS = 12_000
SPLIT_BYTES = 512 * 1024       # each table is about 2 MB: cut into several ranges
TABLES = ("by_uuid", "by_text", "by_pair", "no_key")
FIXTURE = f"""
    CREATE SCHEMA app;
    CREATE TABLE app.by_uuid (id uuid PRIMARY KEY, payload text NOT NULL);
    CREATE TABLE app.by_text (code text PRIMARY KEY, payload text NOT NULL, n int);
    CREATE TABLE app.by_pair (a int, b text, payload text NOT NULL, PRIMARY KEY (a, b));
    CREATE TABLE app.no_key (n int, payload text);
    INSERT INTO app.by_uuid SELECT md5(g::text)::uuid, repeat(md5(g::text), 4) FROM generate_series(1, {ROWS}) g;
    INSERT INTO app.by_text SELECT 'c-' || md5(g::text), repeat(md5((-g)::text), 4), g FROM generate_series(1, {ROWS}) g;
    INSERT INTO app.by_pair SELECT g % 97, md5(g::text), repeat(md5(g::text), 4) FROM generate_series(1, {ROWS}) g;
    -- no key at all: duplicate rows and NULLs, which only a multiset comparison tells apart
    INSERT INTO app.no_key SELECT g % 5000, CASE WHEN g % 11 = 0 THEN NULL ELSE repeat(md5((g % 5000)::text), 4) END
      FROM generate_series(1, {ROWS}) g;
    ANALYZE;
"""
CHECKSUM = ("SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) "
            "FROM (SELECT md5(t::text) AS h FROM ONLY {} t) s")


@pytest.fixture(scope="module")
def block_db(pg_source):
    pg_source.recreate_db(DB)
    pg_source.execute(FIXTURE, dbname=DB)
    return DB


def checksums(cluster, dbname: str) -> dict[str, tuple[int, str]]:
    """Per table: (rows, an order-free digest of every row's text)."""
    with cluster.connect(dbname) as c:
        return {t: tuple(c.execute(sql.SQL(CHECKSUM).format(sql.Identifier("app", t))).fetchone()) for t in TABLES}


def planned(params, state, pg_source, split_bytes=SPLIT_BYTES, lanes=2) -> list[Lane]:
    """The lanes as plan_lanes makes them (index builds attached, parts counted), at a small split size."""
    with psycopg.connect(pg_source.dsn(DB)) as src:
        out = plan_units(src, Plan.from_xcom(state["plan"]), lanes=lanes, binary_ok=True, split_bytes=split_bytes)
    return plan_lanes.attach_index_builds(plan_lanes.post_data_statements(params, state), out)


def run_lanes(params, lanes: list[Lane], run: str | None = None) -> list[list[dict]]:
    """The lanes at once; with `run`, taking units from one list of the run's units, as a DAG's lanes do
    (logical/claims.py; here every unit is written by the lanes, each its share)."""
    with ThreadPoolExecutor(len(lanes)) as pool:
        return [f.result() for f in [pool.submit(copy_lane.copy_lane, params, lane.to_xcom(), run=run, lane_index=i)
                                     for i, lane in enumerate(lanes)]]


@pytest.fixture
def loaded_setup(block_db, pg_source, target_db, connections):
    """(params, state, lanes): structure restored on the target, the lanes planned, nothing copied yet."""
    params = {**connections(block_db), "objects": ["app"]}
    state = precheck.precheck(params)
    structure.structure(params, state)
    return params, state, planned(params, state, pg_source)


def test_tables_without_an_integer_key_load_across_both_lanes_in_block_ranges(
        loaded_setup, block_db, pg_source, pg_target, target_db):
    params, state, lanes = loaded_setup
    assert len(lanes) == 2
    for t in TABLES:
        per_lane = [[u for u in lane.units if u.source == QualifiedName("app", t)] for lane in lanes]
        units = [u for lane_units in per_lane for u in lane_units]
        assert len(units) >= 3 and all(u.blocks is not None and u.range is None for u in units), (t, units)
        assert all(per_lane), f"{t}: its ranges are all in one lane"
        assert len({u.blocks.cut for u in units}) == 1
        bounds = sorted((u.blocks.lo, u.blocks.hi if u.blocks.hi is not None else float("inf")) for u in units)
        assert bounds[0][0] == 0 and bounds[-1][1] == float("inf")
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))   # contiguous, no gap, no overlap

    # each range reads only its own pages: a TID Range Scan, not a scan of the whole table
    with pg_source.connect(DB) as c:
        for u in (lanes[0].units[0], lanes[1].units[-1]):
            text = copying.source_copy_statement(u).as_string(c)
            select = text[len("COPY ("):text.rindex(") TO STDOUT")]
            plan = "\n".join(r[0] for r in c.execute("EXPLAIN " + select))
            assert "Tid Range Scan" in plan and "Seq Scan" not in plan, plan

    results = run_lanes(params, lanes, run=f"test {uuid.uuid4().hex[:8]}")
    assert checksums(pg_target, target_db) == checksums(pg_source, block_db)
    copied = [r["id"] for lane in results for r in lane]
    assert sorted(copied) == sorted(u.id for lane in lanes for u in lane.units)     # each unit once, by one lane
    # the record of loaded ranges: one row per unit, as many rows as the unit copied
    with pg_target.connect(target_db) as c:
        recorded = dict(c.execute(sql.SQL("SELECT table_name || ' ' || first_block, rows FROM {}").format(
            loaded_blocks.LOADED.identifier)).fetchall())
    unit_of = {u.id: u for lane in lanes for u in lane.units}
    rows_of = {f"{unit_of[r['id']].target} {unit_of[r['id']].blocks.lo}": r["rows"] for rs in results for r in rs}
    assert recorded == rows_of
    # the primary keys were built by the lane that loaded each table's last range
    with pg_target.connect(target_db) as c:
        keys = c.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'app'::regnamespace")
        assert keys.fetchone()[0] == 3
    finalize.finalize(params, state, {})
    with pg_target.connect(target_db) as c:
        assert c.execute("SELECT to_regnamespace('pgferry_copy')").fetchone()[0] is None


POISON = "poisoned"


def test_a_retried_lane_skips_the_ranges_it_loaded_and_loads_the_one_that_failed(
        loaded_setup, block_db, pg_source, pg_target, target_db, caplog):
    params, state, lanes = loaded_setup
    # a unit of lane 0 that is not its first fails inside its COPY, on a row in the middle of its range
    victim = next(u for u in lanes[0].units[1:] if u.source.name == "by_uuid")
    b = victim.blocks
    with pg_source.connect(DB) as c:
        bad = c.execute(sql.SQL("SELECT id FROM ONLY app.by_uuid WHERE ctid >= %s::tid"
                                + (" AND ctid < %s::tid" if b.hi is not None else "") + " ORDER BY ctid OFFSET 200 LIMIT 1"),
                        (f"({b.lo},0)",) + ((f"({b.hi},0)",) if b.hi is not None else ())).fetchone()[0]
    pg_target.execute(f"ALTER TABLE app.by_uuid ADD CONSTRAINT {POISON} CHECK (id <> '{bad}')", dbname=target_db)
    run_id = f"manual__{uuid.uuid4().hex}"
    first, second, third = (TaskIdentity("block_split_test", run_id, "copy_lane", 0, n) for n in (1, 2, 3))
    session_names.configure(first)
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            copy_lane.copy_lane(params, lanes[0].to_xcom())
    finally:
        session_names.configure(None)
    with pg_target.connect(target_db) as c:
        recorded = {r[0] for r in c.execute(sql.SQL("SELECT first_block FROM {} WHERE table_name = 'app.by_uuid'").format(
            loaded_blocks.LOADED.identifier))}
    ours = [u for u in lanes[0].units if u.source.name == "by_uuid"]
    assert recorded == {u.blocks.lo for u in ours if u is not victim}   # all but the failed one, which left nothing
    pg_target.execute(f"ALTER TABLE app.by_uuid DROP CONSTRAINT {POISON}", dbname=target_db)

    # try 2: the units try 1 committed are skipped (named: marked done in the run's list, logical/claims.py, in the
    # transaction of their COPY and record), the failed one loads; then the other lane
    session_names.configure(second)
    try:
        with caplog.at_level(logging.INFO, logger="pgferry"):
            results = copy_lane.copy_lane(params, lanes[0].to_xcom())
    finally:
        session_names.configure(None)
    skipped = {r["id"] for r in results if r.get("already_loaded")}
    assert skipped == {u.id for u in lanes[0].units} - {victim.id}
    assert any("loaded by try 1" in r.getMessage() and "marked done in pgferry_copy.claims), skipped" in r.getMessage()
               and "retry, copy_lane[0] try 2" in r.getMessage() for r in caplog.records)
    copy_lane.copy_lane(params, lanes[1].to_xcom())
    assert checksums(pg_target, target_db) == checksums(pg_source, block_db)

    # the same lane once more (a cleared task after success): every range skipped, nothing doubled
    session_names.configure(third)
    try:
        again = copy_lane.copy_lane(params, lanes[0].to_xcom())
    finally:
        session_names.configure(None)
    assert all(r.get("already_loaded") for r in again)
    assert checksums(pg_target, target_db) == checksums(pg_source, block_db)

    # after finalize removed the record, lanes run again: the first range of each table to run finds rows no
    # recorded range accounts for and removes them; the table is loaded once, not twice
    finalize.finalize(params, state, {})
    run_lanes(params, lanes)
    assert checksums(pg_target, target_db) == checksums(pg_source, block_db)


def test_ranges_of_another_cut_of_the_table_are_refused_and_named(loaded_setup, pg_source, pg_target, target_db):
    params, state, lanes = loaded_setup
    copy_lane.copy_lane(params, lanes[0].to_xcom())
    other = planned(params, state, pg_source, split_bytes=SPLIT_BYTES // 2)
    with pytest.raises(loaded_blocks.OtherCut, match=r"another cut of the table .*TRUNCATE app\.\w+"):
        copy_lane.copy_lane(params, other[1].to_xcom())


def test_a_whole_table_load_forgets_the_ranges_recorded_for_it(loaded_setup, pg_source, pg_target, target_db, block_db):
    params, state, lanes = loaded_setup
    copy_lane.copy_lane(params, lanes[0].to_xcom())     # half the ranges of each table, recorded
    whole = planned(params, state, pg_source, split_bytes=None, lanes=1)   # small tables: loaded whole
    assert all(u.whole for lane in whole for u in lane.units)
    copy_lane.copy_lane(params, whole[0].to_xcom())
    assert checksums(pg_target, target_db) == checksums(pg_source, block_db)
    with pg_target.connect(target_db) as c:
        assert c.execute(sql.SQL("SELECT count(*) FROM {}").format(loaded_blocks.LOADED.identifier)).fetchone()[0] == 0
    run_lanes(params, lanes)     # cut again: the whole load's rows are no range's, removed once
    assert checksums(pg_target, target_db) == checksums(pg_source, block_db)


class Heard(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.mark.timeout(600)
def test_a_postgresql_13_source_keeps_a_table_without_an_integer_key_whole(cluster_root, pg_target, target_db):
    assert pg_majors.bindir(13) is not None, "PostgreSQL 13 is not installed: run make pg-majors"
    pg13 = PgCluster(cluster_root, "blocks13", major=13).start()
    try:
        pg13.recreate_db(DB)
        pg13.execute(FIXTURE, dbname=DB)
        airflow_env.postgres_connection("pgferry_source", pg13.port, DB)
        airflow_env.postgres_connection("pgferry_target", pg_target.port, target_db)
        params = {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target", "objects": ["app"]}
        state = precheck.precheck(params)
        # a handler of its own: Airflow's first logging setup (inside precheck, when this test runs alone)
        # replaces the root handlers, caplog's among them
        heard = Heard()
        logging.getLogger("pgferry").addHandler(heard)
        try:
            with psycopg.connect(pg13.dsn(DB)) as src:
                assert src.info.server_version < 140000
                # binary_ok False: the DAG copies in text between majors (13 -> 15)
                lanes = plan_units(src, Plan.from_xcom(state["plan"]), lanes=2, binary_ok=False,
                                   split_bytes=SPLIT_BYTES)
        finally:
            logging.getLogger("pgferry").removeHandler(heard)
        units = [u for lane in lanes for u in lane.units]
        assert sorted(u.id for u in units) == sorted(f"app.{t}" for t in TABLES)
        assert all(u.whole for u in units)
        said = [m for m in heard.messages if "stays one unit" in m]
        assert len(said) == 4 and all("PostgreSQL 14" in m and "13." in m for m in said), said
    finally:
        pg13.destroy()
