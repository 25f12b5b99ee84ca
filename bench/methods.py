"""The copy methods the benchmark times, each into a fresh empty target database.

Each method returns a list of (phase, seconds) and may add details to `extra`. They raise on failure.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import psycopg

LEAF_TABLES = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
ORDER BY pg_table_size(c.oid) DESC"""


class MethodFailed(RuntimeError):
    pass


def _run(cmd, log: Path, env=None, shell=False):
    with open(log, "ab") as f:
        f.write(f"$ {cmd if shell else ' '.join(map(str, cmd))}\n".encode())
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, shell=shell,
                           executable="/bin/bash" if shell else None)
    if r.returncode != 0:
        raise MethodFailed(f"{cmd if shell else cmd[0]} exited {r.returncode}; see {log}")


class Ctx:
    """What a method needs: URIs, binaries, a scratch dir, a log file, the Airflow handle."""

    def __init__(self, source_uri, target_uri, bindir: Path, workdir: Path, log: Path, jobs: int = 2,
                 airflow=None, schema_dump: Path | None = None):
        self.source, self.target, self.bindir = source_uri, target_uri, bindir
        self.workdir, self.log, self.jobs = workdir, log, jobs
        self.airflow, self.schema_dump = airflow, schema_dump

    def bin(self, name):
        return str(self.bindir / name)


# -- pgcopydb ------------------------------------------------------------------------------------
def pgcopydb(ctx: Ctx, extra: dict) -> list:
    exe = shutil.which("pgcopydb")
    if not exe:
        raise MethodFailed("pgcopydb not installed (Debian: apt-get install -y pgcopydb)")
    d = ctx.workdir / "pgcopydb"
    shutil.rmtree(d, ignore_errors=True)
    t0 = time.monotonic()
    _run([exe, "clone", "--source", ctx.source, "--target", ctx.target, "--dir", str(d),
          "--table-jobs", str(ctx.jobs), "--index-jobs", str(ctx.jobs)], ctx.log,
         env={**os.environ, "PATH": f"{ctx.bindir}:{os.environ['PATH']}"})
    return [("total", time.monotonic() - t0)]


# -- pg_dump -Fd -j2 + pg_restore -j2 -------------------------------------------------------------
def pgdump(ctx: Ctx, extra: dict) -> list:
    d = ctx.workdir / "dump"
    shutil.rmtree(d, ignore_errors=True)
    t0 = time.monotonic()
    _run([ctx.bin("pg_dump"), "-Fd", "-j", str(ctx.jobs), "-f", str(d), ctx.source], ctx.log)
    t1 = time.monotonic()
    _run([ctx.bin("pg_restore"), "-j", str(ctx.jobs), "-d", ctx.target, str(d)], ctx.log)
    t2 = time.monotonic()
    shutil.rmtree(d, ignore_errors=True)
    return [("dump", t1 - t0), ("restore", t2 - t1)]


# -- raw parallel binary COPY pipes + pg_restore post-data ---------------------------------------
def raw(ctx: Ctx, extra: dict) -> list:
    """The practical limit: pre-data, `jobs` concurrent psql->psql binary COPY pipes (largest table first),
    sequences, then pg_restore -j post-data (indexes, constraints, triggers, FKs, matview refresh)."""
    t0 = time.monotonic()
    _run([ctx.bin("pg_restore"), "--section=pre-data", "-d", ctx.target, str(ctx.schema_dump)], ctx.log)
    t1 = time.monotonic()
    with psycopg.connect(ctx.source, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(LEAF_TABLES).fetchall()]
        seqs = conn.execute("SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences "
                            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").fetchall()
        setvals = []
        for (s,) in seqs:
            last, called = conn.execute(f"SELECT last_value, is_called FROM {s}").fetchone()
            setvals.append((s, last, called))
    psql = ctx.bin("psql")

    def copy_one(t):
        q = t.replace('"', '\\"')
        cmd = (f"set -o pipefail; {psql} -X -q -v ON_ERROR_STOP=1 \"$SRC\" -c \"\\\\copy {q} to pstdout with (format binary)\" | "
               f"{psql} -X -q -v ON_ERROR_STOP=1 \"$TGT\" -c \"\\\\copy {q} from pstdin with (format binary)\"")
        _run(cmd, ctx.log, env={**os.environ, "SRC": ctx.source, "TGT": ctx.target}, shell=True)

    with ThreadPoolExecutor(ctx.jobs) as pool:
        list(pool.map(copy_one, tables))
    with psycopg.connect(ctx.target, autocommit=True) as conn:
        for s, last, called in setvals:
            conn.execute("SELECT setval(%s::regclass, %s, %s)", (s, last, called))
    t2 = time.monotonic()
    _run([ctx.bin("pg_restore"), "-j", str(ctx.jobs), "--section=post-data", "-d", ctx.target,
          str(ctx.schema_dump)], ctx.log)
    t3 = time.monotonic()
    return [("pre", t1 - t0), ("copy", t2 - t1), ("post", t3 - t2)]


# -- pgferry through a running Airflow -----------------------------------------------------------
DAG_ID = "postgres_logical_migration"
PHASES = ["precheck", "structure", "plan_lanes", "copy_lane", "sequences",
          "triggers_and_foreign_keys", "finalize", "compare_rows", "validate"]


def _ts(s: str | None) -> float | None:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None


# Times come from the run's own timestamps, so polling only decides when the benchmark notices the end;
# polling every 0.5 s cost the api-server ~3 CPU s per 5 GB run on a machine the copy keeps busy.
RUN_POLL_S = 2.0


def trigger_run(ctx: Ctx, dag_id: str, run_id: str, conf: dict, extra: dict):
    """`airflow dags trigger DAG -r RUN -c CONF`, as users run it; the CLI's own time goes to `extra`."""
    af = ctx.airflow
    t_cli = time.time()
    r = af.api.airflow_cli("dags", "trigger", dag_id, "-r", run_id, "-c", json.dumps(conf), "-o", "json",
                           env=af.env)
    extra["cli_trigger_s"] = round(time.time() - t_cli, 2)
    extra["t_cli"] = t_cli
    with open(ctx.log, "a") as f:
        f.write(f"$ airflow dags trigger {dag_id} -r {run_id} -c '{json.dumps(conf)}'\n{r.stdout}\n{r.stderr[-3000:]}\n")
    if r.returncode != 0:
        raise MethodFailed(f"airflow dags trigger exited {r.returncode}: {r.stderr.strip()[-500:]}")


def run_state(ctx: Ctx, dag_id: str, run_id: str) -> dict:
    return ctx.airflow.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")


def task_instances(ctx: Ctx, dag_id: str, run_id: str) -> list[dict]:
    return ctx.airflow.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=200")["task_instances"]


def wait_run(ctx: Ctx, dag_id: str, run_id: str, extra: dict, timeout: float = 3 * 3600) -> tuple[dict, list]:
    """Poll the REST API until the run ends; its run and task instances (also into `extra`). Raises
    MethodFailed naming the tasks that did not succeed."""
    state, run = None, {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = run_state(ctx, dag_id, run_id)
        state = run.get("state")
        if state in ("success", "failed"):
            break
        time.sleep(RUN_POLL_S)
    t_seen = time.time()
    tis = task_instances(ctx, dag_id, run_id)
    extra["run"] = {k: run.get(k) for k in ("dag_run_id", "state", "queued_at", "start_date", "end_date")}
    extra["task_instances"] = [{k: ti.get(k) for k in ("task_id", "map_index", "state", "start_date", "end_date",
                                                       "duration", "queued_when", "scheduled_when", "pid",
                                                       "try_number", "rendered_map_index")} for ti in tis]
    if "t_cli" in extra:
        extra["client_wall_s"] = round(t_seen - extra.pop("t_cli"), 2)
    if state != "success":
        bad = [f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis if t.get("state") != "success"]
        raise MethodFailed(f"dag run {run_id} ended {state}: {', '.join(bad)}")
    return run, tis


def task_spans(run: dict, tis: list[dict]) -> dict[str, tuple[float, float]]:
    """Per task id (mapped instances together): (first start, last end) in seconds after the run's queued_at."""
    t0 = _ts(run["queued_at"])
    by_task: dict[str, list] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    span = {}
    for task, group in by_task.items():
        starts = [_ts(t["start_date"]) for t in group if t.get("start_date")]
        ends = [_ts(t["end_date"]) for t in group if t.get("end_date")]
        if starts and ends:
            span[task] = (min(starts) - t0, max(ends) - t0)
    return span


def busy_seconds(spans: list[tuple[float, float]]) -> float:
    """The time covered by at least one span (spans side by side count once)."""
    busy, reach = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > reach:
            busy += b - max(a, reach)
            reach = b
    return busy


def dag_upstreams(ctx: Ctx, dag_id: str) -> dict[str, list[str]]:
    """Per task id, the tasks it waits for, as the running Airflow has the DAG (REST API)."""
    tasks = ctx.airflow.api.get(f"/api/v2/dags/{dag_id}/tasks")["tasks"]
    return upstreams_of(tasks)


def upstreams_of(tasks: list[dict]) -> dict[str, list[str]]:
    up: dict[str, list[str]] = {t["task_id"]: [] for t in tasks}
    for t in tasks:
        for d in t.get("downstream_task_ids") or []:
            up.setdefault(d, []).append(t["task_id"])
    return {k: sorted(v) for k, v in up.items()}


def critical_path(span: dict[str, tuple[float, float]], upstream: dict[str, list[str]]) -> list[str]:
    """The steps that decided when the run ended: from the step that ended last, back through the step it
    waited for that ended last, to a step that waited for none. Read from the DAG, so it follows the DAG."""
    if not span:
        return []
    task = max(span, key=lambda t: span[t][1])
    path = [task]
    while before := [u for u in upstream.get(task, []) if u in span]:
        task = max(before, key=lambda u: span[u][1])
        path.append(task)
    return path[::-1]


def hop_costs(run: dict, tis: list[dict], upstream: dict[str, list[str]]) -> tuple[float, float, list[str]]:
    """Along the critical path, summed over its hops: (ready -> queued: the scheduler noticing that a step may
    run; queued -> started: the executor starting its task process), and the path. Each step is ready at the
    last end of the steps it waits for; a mapped step counts from its first instance."""
    t0 = _ts(run["queued_at"])
    first = {}
    for ti in tis:
        q, st = _ts(ti.get("queued_when")), _ts(ti.get("start_date"))
        if q is not None and st is not None and (ti["task_id"] not in first or st < first[ti["task_id"]][1]):
            first[ti["task_id"]] = (q, st)
    span = task_spans(run, tis)
    path = critical_path(span, upstream)
    scheduling = starting = 0.0
    for task in path[1:]:
        ends = [span[w][1] + t0 for w in upstream.get(task, []) if w in span]
        if task not in first or not ends:
            continue
        queued, started = first[task]
        scheduling += max(0.0, queued - max(ends))
        starting += max(0.0, started - queued)
    return scheduling, starting, path


def pgferry(ctx: Ctx, extra: dict, run_id: str, on_running=None) -> list:
    """`airflow dags trigger` with conf, poll the REST API until the run ends; times from the run's
    queued_at (set by the trigger) to its end_date, ready-for-cutover to the later end of
    triggers_and_foreign_keys and sequences."""
    conf = {"source_conn_id": "bench_source", "target_conn_id": "bench_target", "parallelism": ctx.jobs}
    trigger_run(ctx, DAG_ID, run_id, conf, extra)
    if on_running:
        on_running()
    run, tis = wait_run(ctx, DAG_ID, run_id, extra)
    span = task_spans(run, tis)
    end = _ts(run["end_date"]) - _ts(run["queued_at"])
    extra["spans"] = {k: [round(a, 2), round(b, 2)] for k, (a, b) in span.items()}
    phases = [("total", end)]
    if "triggers_and_foreign_keys" in span:   # ready for cutover: keys and triggers in place, sequences set
        phases.append(("cutover", max(span[t][1] for t in ("triggers_and_foreign_keys", "sequences") if t in span)))
    for task in PHASES:
        if task in span:
            a, b = span[task]
            phases.append((task, b - a))
    # time in which no task ran at all (tasks side by side count once)
    phases.append(("airflow_gaps", end - busy_seconds([span[t] for t in PHASES if t in span])))
    # what the hops between the steps of the critical path cost, and where (issue 19: time between steps)
    scheduling, starting, extra["critical_path"] = hop_costs(run, tis, dag_upstreams(ctx, DAG_ID))
    phases += [("hops_ready_to_queued", scheduling), ("hops_queued_to_started", starting)]
    # how far apart the copy lanes ended (issue 19: lanes that finish together)
    lane_ends = [_ts(t["end_date"]) for t in tis if t["task_id"] == "copy_lane" and t.get("end_date")]
    if len(lane_ends) > 1:
        phases.append(("lane_end_spread", max(lane_ends) - min(lane_ends)))
    return phases
