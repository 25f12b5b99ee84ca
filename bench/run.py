"""pgferry full-load benchmark: one command, every method into a fresh empty target, interleaved rounds.

    python -m bench.run --size 1 --rounds 3 [--methods pgferry,pgcopydb,pgdump,raw] [--keep]
    python -m bench.run --memory-check [--memory-table-gb 2]
    python -m bench.run --parse-only

Builds (or reuses) two PostgreSQL clusters with identical settings under --workdir, the deterministic
dataset on the source (bench/make_dataset.py), starts one Airflow (`airflow standalone`: scheduler with
LocalExecutor, dag-processor, api-server, triggerer) with connections to both clusters, then for each
round runs every method in a rotated order into a freshly created target database, verifies each copy
against the source (rows + checksums per table, sequences, object inventory), and prints a summary.
Results: bench/results/<timestamp>/ (runs.json, runs.csv, summary.txt, medians.json for bench/plot.py, per-run logs
and activity).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics as st
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import make_dataset, methods, verify  # noqa: E402
from bench.sampler import Sampler, postmaster_cpu  # noqa: E402

DB = "shop"
ALL_METHODS = ["pgferry", "pgcopydb", "pgdump", "raw"]
LABELS = {"pgferry": "pgferry (Airflow DAG, trigger -> run end)",
          "pgferry_cutover": "pgferry ready for cutover",
          "pgcopydb": "pgcopydb clone --table-jobs 2 --index-jobs 2",
          "pgdump": "pg_dump -Fd -j2 + pg_restore -j2",
          "raw": "raw: 2 binary COPY pipes + pg_restore -j2 post-data"}

# identical on both clusters (as ../shared/bench-anchor/setup_clusters.sh); durability left ON
CLUSTER_SETTINGS = {
    "max_connections": "100",
    "shared_buffers": "1GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "8GB",
    "wal_level": "replica",
    "max_wal_size": "4GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "15min",
    "checkpoint_completion_target": "0.9",
    "wal_buffers": "16MB",
    "max_worker_processes": "8",
    "max_parallel_workers": "4",
    "max_parallel_workers_per_gather": "2",
    "max_parallel_maintenance_workers": "2",
    "random_page_cost": "1.1",
    "fsync": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
    "autovacuum": "on",
    "log_min_messages": "warning",
    "lc_messages": "'C'",
}


def product_state() -> dict:
    """Which product code a run measured: HEAD and a digest of the uncommitted product files (others edit
    the tree while benchmarks run; task processes import it afresh for every run)."""
    import hashlib
    h = hashlib.sha256()
    for p in sorted([*(ROOT / "include" / "pgferry").rglob("*.py"), *(ROOT / "include" / "pgferry").rglob("*.sql"),
                     ROOT / "dags" / "postgres_logical_migration.py"]):
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    return {"head": head.strip(), "product_sha256": h.hexdigest()[:16]}


def log(msg: str, logfile: Path | None = None):
    line = f"[{datetime.now():%H:%M:%S}] {msg}"
    print(line, file=sys.stderr, flush=True)
    if logfile:
        with open(logfile, "a") as f:
            f.write(line + "\n")


# -- clusters ------------------------------------------------------------------------------------
def clusters(workdir: Path, settings: dict | None = None):
    from localstack.pgcluster import PgCluster
    s = settings if settings is not None else CLUSTER_SETTINGS
    return (PgCluster(workdir / "pg", "source", settings=dict(s)),
            PgCluster(workdir / "pg", "target", settings=dict(s)))


def postmaster_pid(cluster) -> int:
    return int((cluster.datadir / "postmaster.pid").read_text().split()[0])


def reset_target(tgt, src):
    with tgt.connect() as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))
        c.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(DB)))
        c.execute("CHECKPOINT")
    with src.connect() as c:
        c.execute("CHECKPOINT")
    subprocess.run(["sync"])
    time.sleep(2)


# -- DagBag parse time ---------------------------------------------------------------------------
PARSE_SNIPPET = r"""
import json, sys, time
t0 = time.monotonic()
import airflow, airflow.sdk                      # what a dag-processor has imported before parsing
from airflow.dag_processing.dagbag import DagBag
t_import = time.monotonic() - t0
durs = []
for i in range(5):
    bag = DagBag(dag_folder=sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    durs.append(sum(s.duration.total_seconds() for s in bag.dagbag_stats))
print(json.dumps({"import_airflow_s": t_import, "first_parse_s": durs[0], "warm_parse_s": sorted(durs[1:])}))
"""


def parse_time(env: dict | None = None) -> dict:
    """DagBag FileLoadStat duration of dags/postgres_logical_migration.py in a process that has already
    imported airflow (as the dag-processor has): the first parse (cold module cache for the DAG's own
    imports) and repeated ones."""
    r = subprocess.run([sys.executable, "-c", PARSE_SNIPPET, str(ROOT / "dags" / "postgres_logical_migration.py")],
                       capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT),
                            "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-800:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


# -- Airflow -------------------------------------------------------------------------------------
class AirflowHandle:
    def __init__(self, info, api, env):
        self.info, self.api, self.env = info, api, env


def start_airflow(home: Path, src, tgt, logfile: Path, dag_ids=(methods.DAG_ID,), env_extra: dict | None = None
                  ) -> AirflowHandle:
    from bench import airflow_up
    conns = {
        "AIRFLOW_CONN_BENCH_SOURCE": json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": src.port,
                                                 "schema": DB, "login": "postgres"}),
        "AIRFLOW_CONN_BENCH_TARGET": json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": tgt.port,
                                                 "schema": DB, "login": "postgres"}),
    }
    t0 = time.monotonic()
    info = airflow_up.start(home, env_extra={**conns, **(env_extra or {})})
    api = airflow_up.Api(info)
    env = {**info["env"], **conns}
    log(f"Airflow up in {time.monotonic() - t0:.0f} s at {info['url']}", logfile)
    deadline = time.time() + 180
    for dag_id in dag_ids:
        while True:
            try:
                d = api.get(f"/api/v2/dags/{dag_id}")
                if d.get("is_paused"):
                    api.airflow_cli("dags", "unpause", dag_id, env=env)
                    continue
                break
            except Exception:
                if time.time() > deadline:
                    raise RuntimeError(f"{dag_id} never appeared in Airflow")
                time.sleep(2)
    return AirflowHandle(info, api, env)


# -- summary -------------------------------------------------------------------------------------
def _fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def medians(runs: list[dict], meta: dict) -> dict:
    """The summary table as data (medians.json, what bench/plot.py draws): per method the valid runs' count,
    median, min and max seconds and the paired ratio to pgcopydb; `pgferry_cutover` is pgferry's ready for
    cutover."""
    by_method: dict[str, list[dict]] = {}
    for r in runs:
        if not r["ok"]:
            continue
        by_method.setdefault(r["method"], []).append(r)
        if r["method"] == "pgferry" and "cutover" in r["phases"]:
            by_method.setdefault("pgferry_cutover", []).append({**r, "total": r["phases"]["cutover"]})
    ref_by_round = {x["round"]: x["total"] for x in by_method.get("pgcopydb", [])}
    out = {}
    for m, rs in by_method.items():
        w = [r["total"] for r in rs]
        paired = [r["total"] / ref_by_round[r["round"]] for r in rs if r["round"] in ref_by_round]
        out[m] = {"label": LABELS.get(m, m), "n": len(w), "median_s": round(st.median(w), 2),
                  "min_s": min(w), "max_s": max(w),
                  "paired": round(st.median(paired), 3) if paired else None}
    return {"date": meta.get("date"), "size": meta.get("size"), "db_mib": round(meta["db_bytes"] / 2**20),
            "rounds": meta.get("rounds"), "cores": meta.get("cores"), "methods": out}


def summarize(runs: list[dict], meta: dict) -> str:
    mib = meta["db_bytes"] / 2**20
    valid = [r for r in runs if r["ok"]]
    metric_rows = {}
    for r in valid:
        metric_rows.setdefault(r["method"], []).append(r)
        if r["method"] == "pgferry" and "cutover" in r["phases"]:
            metric_rows.setdefault("pgferry_cutover", []).append({**r, "total": r["phases"]["cutover"]})
    ref = metric_rows.get("pgcopydb")
    ref_med = st.median(x["total"] for x in ref) if ref else None
    ref_by_round = {x["round"]: x["total"] for x in ref or []}
    lines = [f"database {mib:.0f} MiB (pg_database_size of the source; tables+toast {meta['heap_bytes'] / 2**20:.0f} "
             f"MiB, indexes {meta['index_bytes'] / 2**20:.0f} MiB); {meta['rounds']} round(s); "
             f"MB/s = database MiB / median s; ratio = median / pgcopydb median; paired = median over rounds "
             f"of (s / pgcopydb s in the same round)", ""]
    hdr = (f"{'method':<52} {'n':>2} {'median s':>9} {'min-max':>13} {'MB/s':>6} {'ratio':>6} {'paired':>6} "
           f"{'src cpu':>7} {'tgt cpu':>7}  verify")
    lines += [hdr, "-" * len(hdr)]
    order = [m for m in ["pgferry", "pgferry_cutover", "pgcopydb", "pgdump", "raw"] if m in metric_rows or
             any(r["method"] == m for r in runs)]
    for m in order:
        rs = metric_rows.get(m, [])
        allr = [r for r in runs if r["method"] == (m if m != "pgferry_cutover" else "pgferry")]
        verdicts = ",".join(sorted({r["verify"] for r in allr}))
        if not rs:
            lines.append(f"{LABELS.get(m, m):<52} {0:>2} {'INVALID':>9}  {verdicts}")
            continue
        w = [r["total"] for r in rs]
        md = st.median(w)
        paired = [r["total"] / ref_by_round[r["round"]] for r in rs if r["round"] in ref_by_round]
        cpu_s = [r["src_cpu"] for r in rs if r.get("src_cpu") is not None]
        cpu_t = [r["tgt_cpu"] for r in rs if r.get("tgt_cpu") is not None]
        lines.append(f"{LABELS.get(m, m):<52} {len(w):>2} {md:>9.1f} {min(w):>6.1f}-{max(w):<6.1f} {mib / md:>6.1f} "
                     f"{_fmt(md / ref_med if ref_med else None, 2):>6} "
                     f"{_fmt(st.median(paired) if paired else None, 2):>6} "
                     f"{_fmt(st.median(cpu_s) if cpu_s else None):>7} {_fmt(st.median(cpu_t) if cpu_t else None):>7}"
                     f"  {verdicts}")
    # per-phase medians of the multi-phase methods
    for m in ("pgferry", "pgdump", "raw"):
        rs = metric_rows.get(m)
        if not rs:
            continue
        keys = [k for k in rs[0]["phases"] if k not in ("total",)]
        if m == "pgferry":
            lines += ["", "pgferry phases (median s over valid runs; from the task instances, relative to the "
                          "trigger's queued_at; airflow_gaps = total - time inside tasks):"]
        else:
            lines += ["", f"{m} phases (median s):"]
        lines.append("  " + "  ".join(f"{k}={st.median(r['phases'][k] for r in rs if k in r['phases']):.1f}"
                                      for k in keys))
        if m == "pgferry":
            rss = [p["hwm"] for r in rs for p in (r.get("activity") or {}).get("copy_processes", [])]
            if rss:
                lines.append(f"  copy task processes: peak RSS (VmHWM) max {max(rss) / 2**20:.0f} MiB, "
                             f"median {st.median(rss) / 2**20:.0f} MiB over {len(rss)} process(es)")
            codes = sorted({(r.get("code") or {}).get("product_sha256", "?") for r in rs})
            if len(codes) > 1:
                lines.append(f"  NOTE: the product code changed between runs (digests {', '.join(codes)})")
            paths = [" > ".join(r["extra"]["critical_path"]) for r in rs if r["extra"].get("critical_path")]
            for path in sorted(set(paths), key=paths.count, reverse=True):
                lines.append(f"  critical path (read from the DAG), {paths.count(path)} run(s): {path}")
            cli = [r["extra"].get("cli_trigger_s") for r in rs if r["extra"].get("cli_trigger_s")]
            if cli:
                lines.append(f"  `airflow dags trigger` CLI itself: median {st.median(cli):.1f} s "
                             f"(not counted: timing starts at the run's queued_at)")
    pt = meta.get("parse_time")
    if pt and "first_parse_s" in pt:
        lines += ["", f"DagBag parse of dags/postgres_logical_migration.py in a warm process: first "
                      f"{pt['first_parse_s'] * 1000:.0f} ms, repeated {st.median(pt['warm_parse_s']) * 1000:.0f} ms "
                      f"(target < 500 ms; `import airflow` alone took {pt['import_airflow_s']:.1f} s)"
                  + (f"; dag-processor's own last_parse_duration {meta['dag_processor_parse_s']:.2f} s"
                     if meta.get("dag_processor_parse_s") is not None else "")]
    bad = [r for r in runs if not r["ok"]]
    if bad:
        lines += ["", "INVALID runs (excluded above):"]
        lines += [f"  round {r['round']} {r['method']}: {r['verify']} {r.get('error') or ''} "
                  f"{'; '.join(r.get('diffs', [])[:3])}" for r in bad]
    return "\n".join(lines)


# -- memory check --------------------------------------------------------------------------------
MEMCHECK_CHILD = r"""
import json, os, sys, threading, time
sys.path.insert(0, os.environ["BENCH_ROOT"])
from include.pgferry.logical import copy_lane as logical
unit = json.loads(os.environ["BENCH_UNIT"])
peak = {"rss": 0}
def watch():
    while True:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                peak["rss"] = max(peak["rss"], int(line.split()[1]) * 1024)
        time.sleep(0.2)
threading.Thread(target=watch, daemon=True).start()
def status():
    return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(("VmHWM", "VmRSS"))}
before = status()
t0 = time.monotonic()
res = logical.copy_lane({"source_conn_id": "bench_source", "target_conn_id": "bench_target", "parallelism": 1}, [unit])
print(json.dumps({"before": before, "after": status(), "seconds": time.monotonic() - t0, "result": res}))
"""


def memory_check(src, tgt, gb: float, res: Path, logfile: Path, binary: bool = True) -> dict:
    """One ~`gb` GB table, copied by one pgferry copy lane (logical.copy_lane) in a subprocess whose peak
    RSS (VmHWM) is the answer; the process imports Airflow and the postgres provider like a task does."""
    db = "memcheck"
    rows = int(gb * 2**30 / 300)   # ~300 bytes per row on disk
    with src.connect() as c:
        have = c.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                         (db,)).fetchone()
    want_marker = f"pgferry-bench memcheck rows={rows}"
    if not have or have[0] != want_marker:
        log(f"building a {gb:g} GB single table ({rows} rows) on the source", logfile)
        src.recreate_db(db)
        with src.connect(db) as c:
            c.execute("CREATE TABLE big (id bigint NOT NULL, grp int NOT NULL, ts timestamptz NOT NULL, "
                      "payload text NOT NULL, doc jsonb NOT NULL)")
            c.execute("INSERT INTO big SELECT g, g %% 1000, timestamptz '2024-01-01' + g * interval '1 second', "
                      "repeat(md5(g::text), 5), jsonb_build_object('k', g, 'v', md5(g::text)) "
                      "FROM generate_series(1, %s) g", (rows,))
            c.execute("VACUUM (ANALYZE) big")
            c.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(db), sql.Literal(want_marker)))
    with src.connect(db) as c:
        size = c.execute("SELECT pg_table_size('big')").fetchone()[0]
        oid = c.execute("SELECT 'big'::regclass::oid::int").fetchone()[0]
    tgt.recreate_db(db)
    with tgt.connect(db) as c:
        c.execute("CREATE TABLE big (id bigint NOT NULL, grp int NOT NULL, ts timestamptz NOT NULL, "
                  "payload text NOT NULL, doc jsonb NOT NULL)")
    cols = ["id", "grp", "ts", "payload", "doc"]
    unit = {"id": "public.big", "oid": oid, "source": ["public", "big"], "target": ["public", "big"],
            "columns": cols, "target_columns": cols, "binary": binary, "range": None, "bytes": size}
    env = {**os.environ, "BENCH_ROOT": str(ROOT), "BENCH_UNIT": json.dumps(unit), "PYTHONPATH": str(ROOT),
           "AIRFLOW_HOME": str(res / "airflow-memcheck"),
           "AIRFLOW_CONN_BENCH_SOURCE": json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": src.port,
                                                    "schema": db, "login": "postgres"}),
           "AIRFLOW_CONN_BENCH_TARGET": json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": tgt.port,
                                                    "schema": db, "login": "postgres"})}
    log(f"memory check: copying {size / 2**30:.2f} GiB table in one copy lane ({'binary' if binary else 'text'})",
        logfile)
    r = subprocess.run([sys.executable, "-c", MEMCHECK_CHILD], capture_output=True, text=True, env=env, cwd=ROOT)
    (res / f"memcheck-{'binary' if binary else 'text'}.log").write_text(r.stdout + "\n" + r.stderr)
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-1500:]}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    with src.connect(db) as c:
        s_rows = c.execute("SELECT count(*) FROM big").fetchone()[0]
    with tgt.connect(db) as c:
        t_rows = c.execute("SELECT count(*) FROM big").fetchone()[0]
    return {"table_bytes": size, "rows": rows, "format": "binary" if binary else "text",
            "seconds": round(out["seconds"], 1), "mb_per_s": round(size / 1e6 / out["seconds"], 1),
            "rss_before_copy_mib": round(out["before"]["VmRSS"] / 2**20), "peak_rss_mib": round(out["after"]["VmHWM"] / 2**20),
            "rows_match": s_rows == t_rows}


# -- main ----------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description="pgferry full-load benchmark (see docs/benchmarks.md)")
    ap.add_argument("--size", type=float, default=1.0, help="dataset size in GB (about); default 1, e.g. 5 or 0.05")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--methods", default=",".join(ALL_METHODS), help=f"comma list of {','.join(ALL_METHODS)}")
    ap.add_argument("--jobs", type=int, default=2, help="parallel jobs for every method (default 2)")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("PGFERRY_BENCH_DIR") or
                                                         Path(tempfile.gettempdir()) / "pgferry-bench"),
                    help="clusters and scratch space (default $TMPDIR/pgferry-bench); the dataset is reused")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the dataset even if it exists")
    ap.add_argument("--keep", action="store_true", help="leave clusters running (and the last target) at the end")
    ap.add_argument("--clean", action="store_true", help="delete --workdir (clusters, dataset) at the end")
    ap.add_argument("--memory-check", action="store_true", help="only the single-table copy lane memory check")
    ap.add_argument("--memory-table-gb", type=float, default=2.0)
    ap.add_argument("--parse-only", action="store_true", help="only the DagBag parse-time measurement")
    ap.add_argument("--profile", action="store_true",
                    help="py-spy record the first pgferry copy task of round 1 (needs py-spy on PATH or $PYSPY)")
    ap.add_argument("--no-verify", action="store_true")
    a = ap.parse_args(argv)

    if a.parse_only:
        print(json.dumps(parse_time(), indent=2))
        return 0
    from localstack.pgcluster import pg_bindir
    bindir = pg_bindir()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    res = a.results / stamp
    res.mkdir(parents=True, exist_ok=True)
    logfile = res / "bench.log"
    mlist = [m.strip() for m in a.methods.split(",") if m.strip()]
    for m in mlist:
        if m not in ALL_METHODS:
            ap.error(f"unknown method {m!r}")
    a.workdir.mkdir(parents=True, exist_ok=True)
    src, tgt = clusters(a.workdir)
    src.start()
    tgt.start()
    log(f"clusters: source 127.0.0.1:{src.port}, target 127.0.0.1:{tgt.port} (data in {a.workdir / 'pg'})", logfile)
    af = None
    try:
        if a.memory_check:
            out = {"binary": memory_check(src, tgt, a.memory_table_gb, res, logfile, binary=True)}
            (res / "memcheck.json").write_text(json.dumps(out, indent=2))
            print(json.dumps(out, indent=2))
            return 0
        admin_dsn = src.dsn()
        if a.rebuild or not make_dataset.has_dataset(admin_dsn, DB, a.size):
            log(f"building the dataset (size {a.size:g})", logfile)
            secs = make_dataset.build(admin_dsn, DB, a.size, bindir, log=lambda m: log(m, logfile))
            log(f"dataset built in {secs:.0f} s", logfile)
        source_uri, target_uri = src.uri(DB), tgt.uri(DB)
        with src.connect(DB) as c:
            db_bytes = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            heap_bytes, idx_bytes = c.execute(
                "SELECT sum(pg_table_size(c.oid)), sum(pg_indexes_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN "
                "('pg_catalog', 'information_schema')").fetchone()
            version = c.execute("SELECT version()").fetchone()[0]
            settings = dict(c.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                                      (list(CLUSTER_SETTINGS),)).fetchall())
        log(f"source database {db_bytes / 2**20:.0f} MiB; fingerprinting it", logfile)
        t0 = time.monotonic()
        fp_source = verify.fingerprint(src.dsn(DB)) if not a.no_verify else None
        log(f"source fingerprint in {time.monotonic() - t0:.1f} s", logfile)
        if fp_source:
            (res / "fingerprint-source.json").write_text(json.dumps(fp_source, indent=1))
        schema_dump = a.workdir / "schema.dump"
        subprocess.run([str(bindir / "pg_dump"), "-Fc", "--section=pre-data", "--section=post-data", "-f",
                        str(schema_dump), source_uri], check=True)
        meta = {"date": datetime.now().isoformat(timespec="seconds"), "size": a.size, "rounds": a.rounds,
                "methods": mlist, "jobs": a.jobs, "db_bytes": db_bytes, "heap_bytes": int(heap_bytes),
                "index_bytes": int(idx_bytes), "server": version, "settings": settings, "cores": os.cpu_count(),
                "pgcopydb": (subprocess.run(["pgcopydb", "--version"], capture_output=True, text=True).stdout
                             .strip().splitlines() or ["?"])[0] if shutil.which("pgcopydb") else None}
        meta["parse_time"] = parse_time()
        log(f"DagBag parse: {meta['parse_time']}", logfile)
        if "pgferry" in mlist:
            af = start_airflow(res / "airflow", src, tgt, logfile)
            try:
                d = af.api.get(f"/api/v2/dags/{methods.DAG_ID}")
                meta["dag_processor_parse_s"] = d.get("last_parse_duration")
            except Exception:
                pass
            meta["airflow"] = {k: v for k, v in af.info.items() if k not in ("env", "proc", "password")}
        (res / "meta.json").write_text(json.dumps(meta, indent=2))
        src_pm, tgt_pm = postmaster_pid(src), postmaster_pid(tgt)
        runs = []
        csvf = open(res / "runs.csv", "w", newline="")
        cw = csv.writer(csvf)
        cw.writerow(["round", "method", "phase", "seconds", "src_cpu_s", "tgt_cpu_s", "verify"])
        for rnd in range(1, a.rounds + 1):
            for k in range(len(mlist)):
                m = mlist[(k + rnd - 1) % len(mlist)]
                reset_target(tgt, src)
                log(f"round {rnd}/{a.rounds}: {m}", logfile)
                runlog = res / f"r{rnd}-{m}.log"
                scratch = a.workdir / "run"
                shutil.rmtree(scratch, ignore_errors=True)
                scratch.mkdir(parents=True)
                ctx = methods.Ctx(source_uri, target_uri, bindir, scratch, runlog, a.jobs, af, schema_dump)
                sampler = Sampler(src.dsn(), tgt.dsn(), track_copy=(m == "pgferry"))
                extra: dict = {}
                c0 = (postmaster_cpu(src_pm), postmaster_cpu(tgt_pm))
                sampler.start()
                profiler = []
                err = None
                try:
                    if m == "pgferry":
                        hook = None
                        if a.profile and rnd == 1:
                            hook = lambda: profiler.append(start_profiler(sampler, res / "pyspy-copy_lane.txt"))
                        phases = methods.pgferry(ctx, extra, f"bench-{stamp}-r{rnd}", on_running=hook)
                    else:
                        phases = getattr(methods, m)(ctx, extra)
                except Exception as e:   # a failed method is recorded, not fatal
                    err = f"{type(e).__name__}: {e}"
                    phases = []
                sampler.stop()
                c1 = (postmaster_cpu(src_pm), postmaster_cpu(tgt_pm))
                for p in profiler:
                    p.join(30) if p else None
                ph = dict(phases)
                total = ph.get("total", sum(v for _, v in phases))
                if err:
                    verdict, diffs = "ERROR", []
                elif fp_source is None:
                    verdict, diffs = "skipped", []
                else:
                    verdict, diffs = verify.compare(fp_source, verify.fingerprint(tgt.dsn(DB)))
                ok = err is None and verdict in ("ok", "objects-differ", "skipped")
                if diffs:
                    (res / f"r{rnd}-{m}.diff").write_text("\n".join(diffs) + "\n")
                act = sampler.summary()
                (res / f"r{rnd}-{m}.activity.json").write_text(json.dumps(act, indent=1))
                act.pop("timeline", None)
                run = {"round": rnd, "method": m, "total": round(total, 2),
                       "phases": {k: round(v, 2) for k, v in phases}, "ok": ok, "verify": verdict,
                       "diffs": diffs[:20], "error": err, "src_cpu": round(c1[0] - c0[0], 1),
                       "tgt_cpu": round(c1[1] - c0[1], 1), "extra": extra, "activity": act,
                       "code": product_state() if m == "pgferry" else None}
                runs.append(run)
                if "total" not in ph:
                    cw.writerow([rnd, m, "total", f"{total:.2f}", run["src_cpu"], run["tgt_cpu"], verdict])
                for p, v in phases:
                    cw.writerow([rnd, m, p, f"{v:.2f}", run["src_cpu"] if p == "total" else "",
                                 run["tgt_cpu"] if p == "total" else "", verdict])
                csvf.flush()
                (res / "runs.json").write_text(json.dumps(runs, indent=1, default=str))
                rss = [p["hwm"] for p in act.get("copy_processes", [])]
                log(f"   -> {total:.1f} s verify={verdict}" + (f" error={err}" if err else "")
                    + (f" phases: {', '.join(f'{k}={v:.1f}' for k, v in phases if k != 'total')}" if len(phases) > 1 else "")
                    + (f" copy-task peak RSS {max(rss) / 2**20:.0f} MiB" if rss else ""), logfile)
        csvf.close()
        if not a.keep:
            reset_target(tgt, src)
        text = summarize(runs, meta)
        (res / "summary.txt").write_text(text + "\n")
        (res / "medians.json").write_text(json.dumps({**medians(runs, meta), "results": res.name}, indent=1) + "\n")
        print(text)
        log(f"results in {res}", logfile)
        return 0 if all(r["ok"] for r in runs) else 1
    finally:
        tear_down(af, src, tgt, a)


def tear_down(af, src, tgt, a):
    """The benchmark's Airflow, then (unless --keep) its clusters and (with --clean) its working directory."""
    if af is not None:
        from bench import airflow_up
        airflow_up.stop(af.info)
    if not a.keep:
        src.stop()
        tgt.stop()
        if a.clean:
            shutil.rmtree(a.workdir, ignore_errors=True)


def start_profiler(sampler: Sampler, out: Path):
    """py-spy record (raw collapsed stacks) of the first copy task process the sampler finds."""
    import threading
    pyspy = os.environ.get("PYSPY") or shutil.which("py-spy")
    if not pyspy:
        return None

    def go():
        deadline = time.time() + 120
        while time.time() < deadline and not sampler.copy_procs:
            time.sleep(0.2)
        if not sampler.copy_procs:
            return
        pid = next(iter(sampler.copy_procs))
        subprocess.run([pyspy, "record", "--pid", str(pid), "--rate", "50", "--format", "raw", "--nonblocking",
                        "-o", str(out)], capture_output=True)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


if __name__ == "__main__":
    sys.exit(main())
