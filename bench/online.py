"""pgferry online-mode benchmark: the downtime of `postgres_online_migration`, its apply throughput, and the
highest writer rate the apply keeps up with (issue 17; not a timed test).

    python -m bench.online --size 5                 # the issue's ~5 GB dataset
    python -m bench.online --size 1 --rate 50       # 1 GB, the writer at 50 transactions/s
    python -m bench.online --size 0.01 --step-rates 20,40 --step-seconds 6 --settle-seconds 3   # smoke

On two clusters with `wal_level = logical` (bench/run.py's settings otherwise) and bench/make_dataset.py's
dataset (keyless tables get REPLICA IDENTITY FULL, as the online precheck asks), under one running Airflow
started as bench/run.py starts it:
1. **Offline**: `postgres_logical_migration` into an empty target, exactly as bench/run.py runs it
   (methods.pgferry): its whole run, the yardstick for the downtime.
2. **Online**: into an empty target again, with a pgbench writer (`tpcb-like`: 3 UPDATEs and 1 INSERT per
   transaction) at a steady `--rate` from before the trigger until the cutover. Once `wait_caught_up` has
   succeeded and `approve_cutover` asks, the apply is still running: the **step search** runs there, one
   pgbench at each of `--step-rates` for `--step-seconds`, the slot's lag sampled every second; a step is
   kept up with when the lag at its end is no larger than at its start (plus 2 s of its WAL), and the search
   stops at the first step that is not (or whose applied transactions/s fall below 90 % of the writer's).
   Then the writer runs at `--rate` for `--settle-seconds`, stops (the approval's freeze_mode "stopped"),
   and "Cut over" is answered through the REST API (hitlDetails PATCH).
3. **Downtime** = `freeze_source`'s start to `validate`'s end (the task instances' times), split into the
   freeze, the apply's final catch-up, sequences, large objects, validate and the scheduling gaps between.
4. **Apply throughput** (row changes/s) = the apply's own progress counter (`pgferry_online.apply_progress`
   on the target: transactions applied, sampled every second) x 4 row changes per tpcb-like transaction, at
   its fastest: draining the backlog the writer left during the load, or in a step the apply could not
   keep up with.
Both targets are verified against the source afterwards (bench/verify.py). Results:
bench/results/<timestamp>-online/ (summary.txt, online.json, the writer's logs, the Airflow home).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics as st
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import make_dataset, methods, verify  # noqa: E402
from bench.run import (CLUSTER_SETTINGS, DB, clusters, log, product_state, reset_target, start_airflow,  # noqa: E402
                       tear_down)

ONLINE_DAG_ID = "postgres_online_migration"
GOAL_S = 15.0
CHANGES_PER_TX = 4          # pgbench tpcb-like: UPDATE accounts, tellers, branches; INSERT history
SETTLED_LAG = 1 << 20       # a step starts once the slot is at most 1 MiB behind
ONLINE_SETTINGS = {**CLUSTER_SETTINGS, "wal_level": "logical", "max_replication_slots": "10",
                   "max_wal_senders": "10"}
# what the online precheck asks of a keyless table (the application's own UPDATE/DELETE need it once published)
KEYLESS = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
ORDER BY 1"""


def _ts(s):
    return methods._ts(s)


# -- the source's writer -------------------------------------------------------------------------
class Writer:
    """pgbench tpcb-like at a fixed rate (-R, transactions/s over 2 clients) for `seconds` or until stopped."""

    def __init__(self, bindir: Path, dsn: str, rate: float, seconds: int, logpath: Path):
        self.rate, self.logpath = rate, logpath
        self.out = open(logpath, "w")
        self.started = time.time()
        self.proc = subprocess.Popen([str(bindir / "pgbench"), "-n", "-b", "tpcb-like", "-c", "2", "-j", "1",
                                      "-R", f"{rate:g}", "-T", str(int(seconds)), dsn],
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def stop(self) -> float:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=60)
        self.out.close()
        return time.time()

    def wait(self) -> dict:
        """Until pgbench's -T ends; its own count of transactions and rate."""
        self.proc.wait(timeout=3600)
        self.out.close()
        text = self.logpath.read_text()
        n = re.search(r"number of transactions actually processed: (\d+)", text)
        tps = re.search(r"tps = ([\d.]+)", text)
        return {"transactions": int(n.group(1)) if n else None, "tps": float(tps.group(1)) if tps else None,
                "rc": self.proc.returncode}


# -- sampling the slot and the apply --------------------------------------------------------------
class Follow:
    """Every `every` s: the run's slot lag and the source's WAL insert position (source), and the apply's
    transactions so far (its bookkeeping row on the target). Missing pieces (before the slot or the
    bookkeeping exist, after cleanup) are None."""

    def __init__(self, source_dsn: str, target_dsn: str, slot: str, every: float = 1.0):
        self.source_dsn, self.target_dsn, self.slot, self.every = source_dsn, target_dsn, slot, every
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def _loop(self):
        from include.pgferry.online.follow import slot_state
        src = tgt = None
        while not self._stop.is_set():
            s = {"t": time.time(), "lag": None, "insert": None, "tx": None}
            try:
                src = src or psycopg.connect(self.source_dsn, autocommit=True,
                                             application_name="pgferry-bench online sampler")
                s["insert"] = int(src.execute("SELECT pg_current_wal_insert_lsn() - '0/0'").fetchone()[0])
                try:
                    s["lag"] = slot_state(src, self.slot).lag_bytes
                except Exception:
                    pass
            except psycopg.Error:
                src = None
            try:
                tgt = tgt or psycopg.connect(self.target_dsn, autocommit=True,
                                             application_name="pgferry-bench online sampler")
                row = tgt.execute("SELECT sum(transactions) FROM pgferry_online.apply_progress").fetchone()
                s["tx"] = int(row[0]) if row and row[0] is not None else None
            except psycopg.errors.UndefinedTable:
                pass
            except psycopg.Error:
                tgt = None
            self.samples.append(s)
            self._stop.wait(self.every)
        for c in (src, tgt):
            if c is not None:
                c.close()

    def last(self, key: str):
        for s in reversed(self.samples):
            if s[key] is not None:
                return s[key]
        return None

    def window(self, t0: float, t1: float) -> list[dict]:
        return [s for s in self.samples if t0 <= s["t"] <= t1]


def judge_step(samples: list[dict], t0: float, t1: float, writer_tps: float | None = None) -> dict:
    """Whether the apply kept up over [t0, t1]: the lag (bytes) in the window's last third no larger than in
    its first third plus 2 s of the window's WAL (the apply works in batches and rests 1 s when drained),
    and, when the writer's own rate is known, the apply's transactions per second in the window at least
    90 % of it (a lag that grows slowly stays within the first test over a short window)."""
    w = [s for s in samples if t0 <= s["t"] <= t1 and s["lag"] is not None]
    if len(w) < 3:
        return {"kept_up": None, "why": "too few samples"}
    third = max(1, len(w) // 3)
    first, last = st.mean(s["lag"] for s in w[:third]), st.mean(s["lag"] for s in w[-third:])
    ins = [s for s in w if s["insert"] is not None]
    wal_rate = (ins[-1]["insert"] - ins[0]["insert"]) / max(ins[-1]["t"] - ins[0]["t"], 1e-6) if len(ins) > 1 else 0
    tx = [s for s in w if s["tx"] is not None]
    applied = (tx[-1]["tx"] - tx[0]["tx"]) / max(tx[-1]["t"] - tx[0]["t"], 1e-6) if len(tx) > 1 else None
    allowed = first + max(2 * wal_rate, 256 * 1024)
    kept = last <= allowed and (applied is None or not writer_tps or applied >= 0.9 * writer_tps)
    return {"kept_up": kept, "lag_first_kib": round(first / 1024), "lag_last_kib": round(last / 1024),
            "lag_max_kib": round(max(s["lag"] for s in w) / 1024), "wal_kib_per_s": round(wal_rate / 1024),
            "applied_tx_per_s": round(applied, 1) if applied is not None else None}


def drain_rate(samples: list[dict], t_apply_start: float) -> dict | None:
    """The apply's rate while it drained the backlog the writer left during the load: from its start to the
    first sample at most SETTLED_LAG behind."""
    w = [s for s in samples if s["t"] >= t_apply_start and s["tx"] is not None and s["lag"] is not None]
    if not w:
        return None
    end = next((s for s in w if s["lag"] <= SETTLED_LAG), w[-1])
    begin = w[0]
    if end["t"] - begin["t"] < 2 or end["tx"] <= begin["tx"]:
        return {"seconds": round(end["t"] - t_apply_start, 1), "transactions": end["tx"], "tx_per_s": None}
    return {"seconds": round(end["t"] - begin["t"], 1), "transactions": end["tx"] - begin["tx"],
            "tx_per_s": round((end["tx"] - begin["tx"]) / (end["t"] - begin["t"]), 1)}


def wait_settled(follow: Follow, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(1)
        lag = follow.last("lag")
        if lag is not None and lag <= SETTLED_LAG:
            return True
    return False


# -- the online run -------------------------------------------------------------------------------
def wait_task_state(ctx: methods.Ctx, dag_id: str, run_id: str, task_id: str, want: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        ti = ctx.airflow.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        if ti.get("state") == want:
            return
        run = methods.run_state(ctx, dag_id, run_id)
        if run.get("state") in ("success", "failed"):
            raise methods.MethodFailed(f"dag run {run_id} ended {run['state']} before {task_id} was {want}")
        time.sleep(methods.RUN_POLL_S)
    raise methods.MethodFailed(f"{task_id} was not {want} within {timeout:.0f} s")


def online_run(ctx: methods.Ctx, a, run_id: str, source_dsn: str, target_dsn: str, res: Path, logfile: Path,
               extra: dict) -> dict:
    from include.pgferry.online.slot import RunNames
    slot = RunNames.of(ONLINE_DAG_ID, run_id).slot
    follow = Follow(source_dsn, target_dsn, slot).start()
    writer = Writer(ctx.bindir, source_dsn, a.rate, 36000, res / "writer-run.log")
    steps = []
    try:
        conf = {"source_conn_id": "bench_source", "target_conn_id": "bench_target", "parallelism": ctx.jobs}
        methods.trigger_run(ctx, ONLINE_DAG_ID, run_id, conf, extra)
        wait_task_state(ctx, ONLINE_DAG_ID, run_id, "approve_cutover", "awaiting_input", a.timeout)
        t_asked = time.time()
        log(f"   approval asked; lag {follow.last('lag')} bytes; step search over {a.step_rates}", logfile)
        writer.stop()
        for rate in a.step_rates:
            settled = wait_settled(follow, 120)
            w = Writer(ctx.bindir, source_dsn, rate, a.step_seconds, res / f"writer-step-{rate:g}.log")
            t0 = w.started
            done = w.wait()
            t1 = time.time()
            step = {"rate": rate, "settled_before": settled, "seconds": round(t1 - t0, 1), **done,
                    **judge_step(follow.samples, t0 + 1, t1, done.get("tps"))}
            steps.append(step)
            log(f"   step {rate:g} tx/s: {step}", logfile)
            if not step["kept_up"]:
                break
        wait_settled(follow, 120)
        writer = Writer(ctx.bindir, source_dsn, a.rate, 36000, res / "writer-settle.log")
        time.sleep(a.settle_seconds)
        t_stopped = writer.stop()        # the application stops: freeze_mode "stopped"
        lag_at_approval = follow.last("lag")
        ctx.airflow.api.request("PATCH", f"/api/v2/dags/{ONLINE_DAG_ID}/dagRuns/{run_id}/taskInstances/"
                                         f"approve_cutover/-1/hitlDetails",
                                {"chosen_options": ["Cut over"], "params_input": {"freeze_mode": "stopped"}})
        t_answered = time.time()
        run, tis = methods.wait_run(ctx, ONLINE_DAG_ID, run_id, extra, timeout=a.timeout)
    finally:
        if writer.proc.poll() is None:
            writer.stop()
        follow.stop()
    span = methods.task_spans(run, tis)
    t_q = _ts(run["queued_at"])
    extra["spans"] = {k: [round(x, 2), round(y, 2)] for k, (x, y) in span.items()}
    f0, f1 = span["freeze_source"]
    v1 = span["validate"][1]
    downtime = v1 - f0
    apply_end = span["apply_changes"][1]
    parts = {"freeze_source": f1 - f0, "final_catch_up": max(0.0, apply_end - f1)}
    for task in ("sequences", "large_objects", "validate"):
        if task in span:
            parts[task] = span[task][1] - span[task][0]
    window = [(max(f0, x), min(v1, y)) for t, (x, y) in span.items()
              if t in ("freeze_source", "sequences", "large_objects", "validate")] + [(f1, max(f1, apply_end))]
    parts["airflow_gaps"] = downtime - methods.busy_seconds([w for w in window if w[1] > w[0]])
    drain = drain_rate(follow.samples, t_q + span["apply_changes"][0])
    (res / "follow-samples.json").write_text(json.dumps(follow.samples))
    return {"run_id": run_id, "downtime_s": round(downtime, 2), "downtime_parts": {k: round(v, 2) for k, v in parts.items()},
            "whole_s": round(_ts(run["end_date"]) - t_q, 2),
            "ready_for_cutover_s": round(span["wait_caught_up"][1], 2),
            "load_s": round(max(span[t][1] for t in ("online_load.copy_lane", "online_load.hold_snapshot")
                                if t in span), 2),
            "approval_wait_s": round(t_answered - t_asked, 1), "answer_after_writer_stop_s": round(t_answered - t_stopped, 2),
            "lag_at_approval_bytes": lag_at_approval, "drain": drain, "steps": steps}


def apply_throughput(online: dict) -> tuple[float | None, str]:
    """Row changes per second at the apply's fastest measured pace, and where it was measured."""
    cands = []
    d = online.get("drain") or {}
    if d.get("tx_per_s"):
        cands.append((d["tx_per_s"], f"draining the load's backlog of {d['transactions']} transactions in "
                                     f"{d['seconds']} s"))
    for s in online["steps"]:
        if s.get("applied_tx_per_s") and not s.get("kept_up"):
            cands.append((s["applied_tx_per_s"], f"behind a {s['rate']:g} tx/s writer"))
    if not cands:   # the apply was never the bottleneck: the best it showed
        cands = [(s["applied_tx_per_s"], f"keeping up with a {s['rate']:g} tx/s writer")
                 for s in online["steps"] if s.get("applied_tx_per_s")]
    if not cands:
        return None, "no measurement"
    tx, where = max(cands)
    return tx * CHANGES_PER_TX, where


def max_kept_rate(online: dict) -> tuple[float | None, str]:
    ok = [s for s in online["steps"] if s.get("kept_up")]
    bad = [s for s in online["steps"] if s.get("kept_up") is False]
    if not ok:
        return None, (f"not even {bad[0]['rate']:g} tx/s" if bad else "no step measured")
    best = max(ok, key=lambda s: s["rate"])
    actual = best.get("tps") or best["rate"]
    note = (f"the next step, {bad[0]['rate']:g} tx/s, fell behind (lag {bad[0]['lag_first_kib']} -> "
            f"{bad[0]['lag_last_kib']} KiB)" if bad else "every step kept up: the real limit is higher")
    return actual, note


def summarize(meta: dict, offline: dict | None, online: dict | None) -> str:
    mib = meta["db_bytes"] / 2**20
    lines = [f"online mode: database {mib:.0f} MiB (size {meta['size']:g}), {meta['cores']} cores, load average "
             f"{meta['load_before']} before / {meta.get('load_after', '-')} after; writer pgbench tpcb-like at "
             f"{meta['rate']:g} tx/s ({CHANGES_PER_TX} row changes each) for the whole online run", ""]
    hdr = f"{'measure':<58} {'value':>12}  note"
    lines += [hdr, "-" * len(hdr)]
    if online:
        dt = online["downtime_s"]
        lines.append(f"{'downtime, freeze_source start -> validate end':<58} {dt:>10.1f} s  goal {GOAL_S:g} s: "
                     + ("met" if dt <= GOAL_S else f"MISSED by {dt - GOAL_S:.1f} s")
                     + f" ({dt / GOAL_S:.2f} of the goal)")
        lines.append(f"{'  of which':<58} {'':>12}  " + "  ".join(f"{k}={v:.1f}" for k, v in online["downtime_parts"].items()))
    if offline:
        lines.append(f"{'offline logical DAG, whole run (trigger -> run end)':<58} {offline['total_s']:>10.1f} s  "
                     f"verify={offline['verify']}")
    if online and offline:
        lines.append(f"{'ratio downtime / offline whole run':<58} {online['downtime_s'] / offline['total_s']:>12.2f}")
    if online:
        lines.append(f"{'online: trigger -> approval asked (wait_caught_up end)':<58} "
                     f"{online['ready_for_cutover_s']:>10.1f} s  load (copy lanes) ended at {online['load_s']:.1f} s")
        if offline:
            lines.append(f"{'ratio online ready-for-cutover / offline whole run':<58} "
                         f"{online['ready_for_cutover_s'] / offline['total_s']:>12.2f}")
        thr, where = apply_throughput(online)
        # None (nothing measured, no step kept up with) prints "-": the notes say why
        lines.append(f"{'apply throughput, row changes/s':<58} {'-' if thr is None else round(thr):>12}  {where}")
        rate, note = max_kept_rate(online)
        lines.append(f"{'highest writer rate the apply keeps up with, tx/s':<58} "
                     f"{'-' if rate is None else round(rate):>12}  = "
                     f"{'-' if rate is None else round(rate * CHANGES_PER_TX)} row changes/s; {note}")
        lines.append(f"{'online run verify':<58} {online.get('verify', '-'):>12}  whole online run "
                     f"{online['whole_s']:.1f} s incl. the step search and the approval wait "
                     f"({online['approval_wait_s']:.0f} s)")
        lines += ["", "step search (each step: pgbench at the rate for the window, slot lag sampled every second):",
                  f"  {'rate':>6} {'actual tps':>10} {'applied tx/s':>12} {'lag first->last KiB':>20} {'max KiB':>8}  kept up"]
        for s in online["steps"]:
            lines.append(f"  {s['rate']:>6g} {s.get('tps') or 0:>10.1f} {s.get('applied_tx_per_s') or 0:>12.1f} "
                         f"{str(s.get('lag_first_kib')) + ' -> ' + str(s.get('lag_last_kib')):>20} "
                         f"{s.get('lag_max_kib') or 0:>8}  {s.get('kept_up')}")
    return "\n".join(lines)


def prepare_online_source(dsn: str, logfile: Path) -> list[str]:
    """REPLICA IDENTITY FULL on the dataset's keyless tables (pgbench_history, audit_log): the online precheck
    refuses a table it cannot publish safely. An interrupted earlier benchmark's slots and publications
    (these clusters are the benchmark's own) are dropped: they would keep WAL and fail the precheck."""
    with psycopg.connect(dsn, autocommit=True) as c:
        left = c.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'pgferry%' AND NOT active "
                         "AND database = current_database()").fetchall()
        for (slot,) in left:
            c.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        for (pub,) in c.execute("SELECT pubname FROM pg_publication WHERE pubname LIKE 'pgferry%'").fetchall():
            c.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(pub)))
        if left:
            log(f"dropped an earlier run's slot(s) {', '.join(r[0] for r in left)}", logfile)
        names = [r[0] for r in c.execute(KEYLESS).fetchall()]
        for n in names:
            schema, table = c.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                                      "ON n.oid = c.relnamespace WHERE c.oid = %s::regclass", (n,)).fetchone()
            c.execute(sql.SQL("ALTER TABLE {}.{} REPLICA IDENTITY FULL").format(sql.Identifier(schema),
                                                                               sql.Identifier(table)))
    if names:
        log(f"REPLICA IDENTITY FULL on {', '.join(names)}", logfile)
    return names


def _rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="pgferry online-mode benchmark (see docs/benchmarks.md)")
    ap.add_argument("--size", type=float, default=5.0, help="dataset size in GB (about); default 5, e.g. 1 or 0.01")
    ap.add_argument("--rate", type=float, default=50,
                    help="the writer's steady rate, transactions/s (default 50); below what the apply keeps up "
                         "with, or the approval is never asked")
    ap.add_argument("--step-rates", type=_rates, default=_rates("100,200,400,800"),
                    help="writer rates of the step search, tx/s, tried in order until one falls behind")
    ap.add_argument("--step-seconds", type=int, default=30, help="window of each step (default 30)")
    ap.add_argument("--settle-seconds", type=float, default=10,
                    help="the writer at --rate after the step search, before it stops and the cutover is approved")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-offline", action="store_true", help="skip the offline logical DAG's run")
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--timeout", type=float, default=3 * 3600, help="bound on each wait for the DAG runs")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("PGFERRY_BENCH_ONLINE_DIR") or
                                                         Path(tempfile.gettempdir()) / "pgferry-bench-online"),
                    help="clusters (wal_level logical) and the dataset, kept and reused; default "
                         "$TMPDIR/pgferry-bench-online")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--keep", action="store_true", help="leave the clusters running at the end")
    ap.add_argument("--clean", action="store_true", help="delete --workdir at the end")
    a = ap.parse_args(argv)
    # `kill PID` (a background job ignores SIGINT) still stops Airflow, the writer and the clusters
    main_thread = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143)) if main_thread else None

    from localstack.pgcluster import pg_bindir
    bindir = pg_bindir()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    res = a.results / f"{stamp}-online"
    res.mkdir(parents=True, exist_ok=True)
    logfile = res / "bench.log"
    a.workdir.mkdir(parents=True, exist_ok=True)
    src, tgt = clusters(a.workdir, ONLINE_SETTINGS)
    src.start()
    tgt.start()
    log(f"clusters (wal_level logical): source 127.0.0.1:{src.port}, target 127.0.0.1:{tgt.port}", logfile)
    af = None
    try:
        if a.rebuild or not make_dataset.has_dataset(src.dsn(), DB, a.size):
            log(f"building the dataset (size {a.size:g})", logfile)
            secs = make_dataset.build(src.dsn(), DB, a.size, bindir, log=lambda m: log(m, logfile))
            log(f"dataset built in {secs:.0f} s", logfile)
        prepare_online_source(src.dsn(DB), logfile)
        with src.connect(DB) as c:
            db_bytes = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        meta = {"date": datetime.now().isoformat(timespec="seconds"), "size": a.size, "db_bytes": db_bytes,
                "rate": a.rate, "step_rates": a.step_rates, "step_seconds": a.step_seconds, "jobs": a.jobs,
                "cores": os.cpu_count(), "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
                "settings": ONLINE_SETTINGS, "code": product_state()}
        af = start_airflow(res / "airflow", src, tgt, logfile, dag_ids=(methods.DAG_ID, ONLINE_DAG_ID))
        fp_source = None
        offline = online = None
        if not a.no_offline:
            reset_target(tgt, src)
            log("offline: postgres_logical_migration", logfile)
            if not a.no_verify:
                fp_source = verify.fingerprint(src.dsn(DB))
            ctx = methods.Ctx(src.uri(DB), tgt.uri(DB), bindir, a.workdir, res / "offline.log", a.jobs, af)
            extra: dict = {}
            phases = dict(methods.pgferry(ctx, extra, f"bench-{stamp}-offline"))
            verdict = "skipped"
            if fp_source:
                verdict, diffs = verify.compare(fp_source, verify.fingerprint(tgt.dsn(DB)))
                if diffs:
                    (res / "offline.diff").write_text("\n".join(diffs) + "\n")
            offline = {"total_s": round(phases["total"], 2), "phases": {k: round(v, 2) for k, v in phases.items()},
                       "verify": verdict, "extra": extra}
            log(f"   -> offline whole run {phases['total']:.1f} s verify={verdict}", logfile)
        reset_target(tgt, src)
        log(f"online: postgres_online_migration, writer at {a.rate:g} tx/s", logfile)
        ctx = methods.Ctx(src.uri(DB), tgt.uri(DB), bindir, a.workdir, res / "online.log", a.jobs, af)
        extra = {}
        online = online_run(ctx, a, f"bench-{stamp}-online", src.dsn(DB), tgt.dsn(DB), res, logfile, extra)
        online["extra"] = extra
        online["verify"] = "skipped"
        if not a.no_verify:
            online["verify"], diffs = verify.compare(verify.fingerprint(src.dsn(DB)), verify.fingerprint(tgt.dsn(DB)))
            if diffs:
                (res / "online.diff").write_text("\n".join(diffs) + "\n")
        meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        text = summarize(meta, offline, online)
        (res / "summary.txt").write_text(text + "\n")
        (res / "online.json").write_text(json.dumps({"meta": meta, "offline": offline, "online": online},
                                                    indent=1, default=str) + "\n")
        print(text, flush=True)
        log(f"results in {res}", logfile)
        ok = online["verify"] in ("ok", "objects-differ", "skipped") and \
            (offline is None or offline["verify"] in ("ok", "objects-differ", "skipped"))
        return 0 if ok else 1
    finally:
        tear_down(af, src, tgt, a)
        if main_thread:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
