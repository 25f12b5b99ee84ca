"""Copy lanes take the run's units from one list on the target (logical/claims.py), largest first, whichever
lane is free; not dealt out in advance. Real clusters, and each lane a real process with its own task identity,
as mapped tasks on two workers are, let go at once: a slow lane takes fewer units (how far apart the lanes end
is the benchmark's lane_end_spread); a lane killed mid-unit leaves that unit to the other lane, no row
duplicated or lost; plan_lanes writes the list, and another plan's list is refused, named.

A slow lane is a lane whose worker is slow: its process sleeps before each unit, inside the unit's transaction
(the claim held), as a lane behind a slow network or on a busy worker spends its time.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from include.pgferry.failures import permanent_reason
from include.pgferry.logical import claims, copy_lane, plan_lanes, precheck, structure
from include.pgferry.logical.units import plan_units
from include.pgferry.model import Lane, Plan
from include.pgferry.pg import session_names
from include.pgferry.pg.session_names import TaskIdentity
from localstack import ROOT
from tests.support.migration import data_rows

pytestmark = pytest.mark.integration

DB = "lane_claims"
EVENTS = 200_000
SPLIT_BYTES = 5 * 1024 * 1024      # events (~46 MB) cut into about 18 key ranges
DAG_ID = "lane_claims_test"
SLOW_S = 1.5                       # the slow lane's extra time per unit
FAST_S = 0.1
START_WITHIN_S = 120


CHILD = """
import json, os, sys, time
from include.pgferry.logical import copy_lane, copying
from include.pgferry.pg import session_names
args = json.load(open(sys.argv[1]))
real = copying.copy_unit
def slowed(*a, **kw):
    time.sleep(args["delay_s"])     # a slower worker: the unit's claim is held meanwhile
    return real(*a, **kw)
copying.copy_unit = slowed
session_names.configure(session_names.TaskIdentity(**args["identity"]))
open(args["out"] + ".started", "w").write(str(time.time()))
# every lane starts taking units at once (go_lanes): a process that started late must not find the work gone
deadline = time.monotonic() + 300
while not os.path.exists(args["go"]) and time.monotonic() < deadline:
    time.sleep(0.05)
results = copy_lane.copy_lane(args["params"], args["lane"])
json.dump({"results": results, "ended": time.time()}, open(args["out"], "w"))
"""


@pytest.fixture(scope="module")
def claims_db(pg_source):
    pg_source.recreate_db(DB)
    pg_source.execute(f"""
        CREATE SCHEMA app;
        CREATE TABLE app.events (id bigint PRIMARY KEY, payload text NOT NULL);
        CREATE TABLE app.tags (event_id bigint, tag text);
        CREATE TABLE app.kinds (id int PRIMARY KEY, name text);
        INSERT INTO app.events SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, {EVENTS}) g;
        INSERT INTO app.tags SELECT g % 1000, 't' || (g % 7) FROM generate_series(1, 20000) g;
        INSERT INTO app.kinds SELECT g, 'k' || g FROM generate_series(1, 50) g;
        ANALYZE;
    """, dbname=DB)
    return DB


@pytest.fixture
def planned(claims_db, pg_source, pg_target, target_db, connections):
    """(params, state, lanes, run_id): structure restored, two lanes' shares planned (index builds attached, as
    plan_lanes does), and the run's list written on the target as plan_lanes writes it."""
    params = {**connections(claims_db), "objects": ["app"], "parallelism": 2}
    state = precheck.precheck(params)
    structure.structure(params, state)
    with psycopg.connect(pg_source.dsn(claims_db)) as src:
        lanes = plan_units(src, Plan.from_xcom(state["plan"]), lanes=2, binary_ok=True, split_bytes=SPLIT_BYTES)
    lanes = plan_lanes.attach_index_builds(plan_lanes.post_data_statements(params, state), lanes)
    units = sorted((u for lane in lanes for u in lane.units), key=lambda u: (-u.bytes, u.id))
    assert len(units) >= 12, [u.id for u in units]
    run_id = f"manual__{uuid.uuid4().hex}"
    with psycopg.connect(pg_target.dsn(target_db), autocommit=True) as c:
        claims.register(c, session_names.run_key(DAG_ID, run_id), units, exact=True)
    return params, state, lanes, run_id


def start_lane(tmp_path, params, lane: Lane, identity: TaskIdentity, delay_s: float) -> tuple[subprocess.Popen, str]:
    out = str(tmp_path / f"lane{identity.map_index}-try{identity.try_number}.json")
    args = tmp_path / f"args{identity.map_index}-{identity.try_number}.json"
    args.write_text(json.dumps({"identity": identity.__dict__, "params": params, "lane": lane.to_xcom(),
                                "delay_s": delay_s, "out": out, "go": str(tmp_path / "go")}))
    log_file = open(out + ".log", "wb")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(args)], cwd=ROOT, env=os.environ.copy(),
                             stdout=log_file, stderr=subprocess.STDOUT)
    return child, out


def go_lanes(tmp_path, children):
    """Once every lane's process has started (imports done), let them all take units."""
    deadline = time.monotonic() + START_WITHIN_S
    while not all(os.path.exists(out + ".started") for _, out in children):
        assert time.monotonic() < deadline and all(c.poll() is None for c, _ in children), \
            [open(out + ".log").read()[-2000:] for _, out in children]
        time.sleep(0.05)
    (tmp_path / "go").write_text("go")


def finished(child: subprocess.Popen, out: str, within_s: float = 600) -> dict:
    code = child.wait(within_s)
    assert code == 0, open(out + ".log").read()[-3000:]
    return json.load(open(out))


def listed(pg_target, target_db, run: str) -> dict[str, tuple]:
    """{unit id: (lane, try, done_at as epoch seconds)} of the run's list."""
    return {r[0]: tuple(r[1:]) for r in pg_target.query(
        "SELECT unit_id, lane, try, extract(epoch FROM done_at)::float8 FROM pgferry_copy.claims WHERE run = %s",
        target_db, params=(run,))}


@pytest.mark.timeout(900)
def test_two_lanes_take_the_units_as_they_are_free_and_a_slow_lane_takes_fewer(
        planned, claims_db, pg_source, pg_target, target_db, tmp_path):
    params, state, lanes, run_id = planned
    fast, slow = (TaskIdentity(DAG_ID, run_id, "copy_lane", i, 1) for i in (0, 1))
    run = fast.run_key
    units = {u.id: u for lane in lanes for u in lane.units}
    children = [start_lane(tmp_path, params, lanes[0], fast, FAST_S), start_lane(tmp_path, params, lanes[1], slow, SLOW_S)]
    go_lanes(tmp_path, children)
    done = [finished(*c) for c in children]

    took = listed(pg_target, target_db, run)
    assert set(took) == set(units) and all(lane is not None for lane, _, _ in took.values()), took
    by_lane = {i: sorted(u for u, (lane, _, _) in took.items() if lane == i) for i in (0, 1)}
    print(f"fast lane took {len(by_lane[0])} unit(s), slow lane {len(by_lane[1])}: {by_lane}")
    # not dealt in advance: each lane took what it was free for; the slow one fewer, but some
    assert len(by_lane[1]) >= 1 and len(by_lane[0]) > len(by_lane[1]) + 2, by_lane
    assert by_lane[0] != sorted(u.id for u in lanes[0].units)
    # each lane's result lists exactly what the list says it took: the report's rows, once each
    assert sorted(r["id"] for r in done[0]["results"]) == by_lane[0]
    assert sorted(r["id"] for r in done[1]["results"]) == by_lane[1]
    assert data_rows(pg_target, target_db) == data_rows(pg_source, claims_db)
    # the table cut across both lanes was finished once, by the lane whose unit completed it
    finished_by = dict(pg_target.query("SELECT table_name, lane FROM pgferry_copy.finished_tables WHERE run = %s",
                                       target_db, params=(run,)))
    assert set(finished_by) == {'"app"."events"', '"app"."tags"', '"app"."kinds"'}
    last_event = max((t for u, (_, _, t) in took.items() if u.startswith("app.events")))
    assert finished_by['"app"."events"'] == next(lane for u, (lane, _, t) in took.items() if t == last_event)
    assert pg_target.query("SELECT count(*) FROM pg_index WHERE indrelid = 'app.events'::regclass", target_db) == [(1,)]
    # how far apart the lanes ended is a speed, measured by the benchmark (lane_end_spread), not asserted here
    print(f"lanes ended {abs(done[0]['ended'] - done[1]['ended']):.2f} s apart")


@pytest.mark.timeout(900)
def test_a_lane_killed_mid_unit_leaves_the_unit_to_the_other_lane_with_no_row_twice_or_lost(
        planned, claims_db, pg_source, pg_target, target_db, tmp_path, caplog):
    params, state, lanes, run_id = planned
    steady, killed = (TaskIdentity(DAG_ID, run_id, "copy_lane", i, 1) for i in (0, 1))
    run = steady.run_key
    children = [start_lane(tmp_path, params, lanes[0], steady, 0.6), start_lane(tmp_path, params, lanes[1], killed, 0)]
    go_lanes(tmp_path, children)
    victim_child = children[1][0]

    # SIGKILL lane 1 while its COPY has rows of a unit (uncommitted), as an OOM kill or a lost worker does
    deadline = time.monotonic() + START_WITHIN_S
    victim = None
    with pg_target.connect() as watch:
        while victim is None:
            assert time.monotonic() < deadline and victim_child.poll() is None, "lane 1 never reached a COPY"
            for pid, app, rows in watch.execute(
                    "SELECT a.pid, a.application_name, p.tuples_processed FROM pg_stat_activity a JOIN "
                    "pg_stat_progress_copy p USING (pid) WHERE a.datname = %s", (target_db,)).fetchall():
                name = session_names.parse(app)
                if name and (name.run_key, name.map_index) == (run, 1) and name.unit is not None and rows:
                    os.kill(victim_child.pid, signal.SIGKILL)
                    victim_child.wait(30)
                    victim = pg_target.query("SELECT unit_id FROM pgferry_copy.claims WHERE run = %s AND no = %s",
                                             target_db, params=(run, name.unit))[0][0]
                    break
    steady_done = finished(*children[0])

    took = listed(pg_target, target_db, run)
    print(f"killed lane 1 in {victim}; the list: {took}")
    # the killed unit rolled back with its claim, and the lane still running took it and loaded it
    assert took[victim][:2] == (0, 1), took[victim]
    assert victim in {r["id"] for r in steady_done["results"]}
    # the retry of the killed lane takes whatever is left (nothing, or what lane 0 had not reached)
    with caplog.at_level(logging.INFO, logger="pgferry"):
        session_names.configure(TaskIdentity(DAG_ID, run_id, "copy_lane", 1, 2))
        try:
            retried = copy_lane.copy_lane(params, lanes[1].to_xcom())
        finally:
            session_names.configure(None)
    took = listed(pg_target, target_db, run)
    assert all(lane is not None for lane, _, _ in took.values()), took
    # every unit in exactly one lane's result: lane 0's, and lane 1's units of try 1 (before the kill) and try 2
    reported = [r["id"] for r in steady_done["results"]] + [r["id"] for r in retried]
    assert sorted(reported) == sorted(took)
    assert data_rows(pg_target, target_db) == data_rows(pg_source, claims_db)


def test_plan_lanes_writes_the_runs_list_and_another_plan_is_refused_named(
        claims_db, pg_source, pg_target, target_db, connections):
    params = {**connections(claims_db), "objects": ["app"], "parallelism": 2}
    state = precheck.precheck(params)
    run_id = f"manual__{uuid.uuid4().hex}"
    session_names.configure(TaskIdentity(DAG_ID, run_id, "plan_lanes"))
    try:
        planned = plan_lanes.plan_lanes(params, state)
        again = plan_lanes.plan_lanes(params, state)      # a retry of the task: the same units, checked
    finally:
        session_names.configure(None)
    run = session_names.run_key(DAG_ID, run_id)
    ids = sorted(u["id"] for lane in planned["lanes"] for u in lane)
    assert again["lanes"] == planned["lanes"]
    assert sorted(listed(pg_target, target_db, run)) == ids
    assert all(lane is None for lane, _, _ in listed(pg_target, target_db, run).values())

    # another cut of the same run (a plan made after the data changed): refused, naming what differs
    with psycopg.connect(pg_source.dsn(claims_db)) as src:
        other = plan_units(src, Plan.from_xcom(state["plan"]), lanes=2, binary_ok=True, split_bytes=SPLIT_BYTES)
    with psycopg.connect(pg_target.dsn(target_db), autocommit=True) as c, pytest.raises(claims.OtherPlan) as err:
        claims.register(c, run, [u for lane in other for u in lane.units], exact=True)
    message = str(err.value)
    assert f"run '{run}') was written by another plan" in message and "app.events [1/" in message
    assert f"DELETE FROM pgferry_copy.claims WHERE run = '{run}'" in message
    assert permanent_reason(err.value) is not None
