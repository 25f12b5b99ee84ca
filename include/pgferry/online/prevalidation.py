"""Validate ahead of the cutover: task `prevalidate` checksums every table by bucket while the source still
takes writes, and the cutover's validate (`settle`) reads again only the buckets that changed since.

`prevalidate`, once the load is finalized, while the apply runs:
1. registers every table validate will compare (changed_buckets.py): a table whose replica identity is one
   integer column in buckets of 2^shift consecutive keys (about ROWS_PER_BUCKET rows each), any other
   table as one bucket; then the watch triggers on the target;
2. checksums each table by bucket on both sides: the source's buckets stream into the target's
   `prevalidated` (COPY out, COPY in: nothing held in memory), the target's by INSERT ... SELECT there.

`settle`, at the cutover, once the apply has applied through the freeze point, for each table of the
pre-validation: the buckets to read again are those the apply recorded as changed since the registration
and those whose two sides differed when read (a change in flight between the two reads); a table the
bookkeeping marks whole (changed without a usable key, truncated, written on the target by someone else,
changed on the source after the apply's last batch) is left to validate's full read. The table's totals
are the pre-validation's, less the re-read buckets' rows then, plus their rows now. Why a bucket not read
again is the same on both sides at the cutover:
- source: every change committed after the registration is applied before validate and recorded with it
  (the registration holds the apply's progress lock); one the apply never saw (after its last batch) is
  found by decoding the slot from where the apply left it (`changed_after`);
- target: the apply records its own changes; anyone else's fire the watch triggers.
With apply_engine "subscription" the target's own worker applies, records nothing, and the cutover's
validate reads every table (prevalidate says so and does nothing).
"""
from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import psycopg
from psycopg import sql

from include.pgferry.logical import comparison
from include.pgferry.logical.common import endpoints, parallelism, wants
from include.pgferry.model import Plan
from include.pgferry.online import apply as ap
from include.pgferry.online import changed_buckets as cb
from include.pgferry.online import pgoutput as po
from include.pgferry.pg.catalog import fetch, fetch_one
from include.pgferry.pg.endpoint import PgEndpoint
from include.pgferry.pg.parallel import run_longest_first

log = logging.getLogger("pgferry")

ROWS_PER_BUCKET = 32
MAX_BUCKETS = 1 << 20           # per table: the pre-validation's rows of one table stay a few tens of MB
MAX_SHIFT = 62                  # int8 >> 63 and more is not defined
UNKNOWN_SHIFT = 5               # an empty table: buckets of 32 keys
AFTER_PEEK_MAX = 1000           # changes decoded after the apply's end; more: every table is read whole
SESSION = ("SET max_parallel_workers_per_gather = 0", "SET work_mem = '256MB'")


def shift_for(low: int | None, high: int | None, rows: int) -> int:
    """Buckets of about ROWS_PER_BUCKET rows, at most MAX_BUCKETS of them."""
    if low is None or high is None:
        return UNKNOWN_SHIFT
    span = high - low + 1
    keys_per_bucket = span * ROWS_PER_BUCKET / max(rows, 1) if rows > 0 else ROWS_PER_BUCKET
    shift = min(MAX_SHIFT, max(0, math.ceil(math.log2(max(keys_per_bucket, 1)))))
    while shift < MAX_SHIFT and (high >> shift) - (low >> shift) + 1 > MAX_BUCKETS:
        shift += 1
    return shift


def _keys(source, tables) -> dict[int, tuple[str, int]]:
    """Source table oid -> (key column, shift) of each table with a one-integer-column replica identity (a
    table compared on its extension's filter stays one bucket)."""
    plain = {t.oid: t for t in tables if not t.condition}
    out = {}
    for r in fetch(source, "list_bucket_keys", oids=sorted(plain)):
        t = plain[r["table_oid"]]
        if r["key_column"] not in {c[0] for c in t.columns}:     # left out of the copy: the target lacks it
            continue
        low, high = source.execute(sql.SQL("SELECT min({k})::int8, max({k})::int8 FROM ONLY {t}").format(
            k=sql.Identifier(r["key_column"]), t=t.source.identifier)).fetchone()
        out[t.oid] = (r["key_column"], shift_for(low, high, int(r["rows_estimate"] or 0)))
    return out


def _register(target, slot: str, tables, keys):
    """One transaction under the apply's progress lock: earlier tries' rows go, the tables are registered."""
    with target.transaction():
        ap.claim_progress(target, slot)
        for table in cb.RUN_TABLES:
            target.execute(sql.SQL("DELETE FROM {} WHERE slot_name = %s").format(table.identifier), (slot,))
        rows = [(slot, t.oid, *keys.get(t.oid, (None, None))) for t in tables]
        with target.cursor() as cur:
            cur.executemany(sql.SQL("INSERT INTO {} (slot_name, table_oid, key_column, shift) VALUES (%s, %s, %s, %s)"
                                    ).format(cb.WATCHED.identifier), rows)


@contextmanager
def _session(*eps: PgEndpoint):
    with ExitStack() as stack:
        conns = [stack.enter_context(ep.connect(autocommit=True, application_name="pgferry prevalidate")) for ep in eps]
        for c in conns:
            for s in SESSION:
                c.execute(s)
        yield conns


def _columns(t, side: int) -> list[tuple[str, int | None]]:
    return [(c[side], c[2]) for c in t.columns]


def _bucket_query(t, keys, side: int, hash_name: str) -> sql.Composed:
    where = t.source if side == 0 else t.target
    key, shift = keys.get(t.oid, (None, None))
    column = key if side == 0 or key is None else dict((c[0], c[1]) for c in t.columns)[key]
    return comparison.bucket_checksum_query(where.schema, where.name, _columns(t, side), hash_name, t.condition,
                                            column, shift)


def checksum_buckets(source_ep: PgEndpoint, target_ep: PgEndpoint, slot: str, tables, keys, hash_name: str,
                     workers: int):
    """Both sides' bucket checksums into the target's `prevalidated`, biggest tables first; each table's rows
    of a side replaced in one transaction (a retry repeats it)."""
    def into(side: str, oid: int) -> sql.Composed:
        return sql.SQL("{}, {}, {}").format(sql.Literal(slot), sql.Literal(oid), sql.Literal(side))

    def delete(target, side, oid):
        target.execute(sql.SQL("DELETE FROM {} WHERE slot_name = %s AND table_oid = %s AND side = %s").format(
            cb.PREVALIDATED.identifier), (slot, oid, side))

    def source_job(conns, t):
        source, target = conns
        query = sql.SQL("COPY (SELECT {}, q.* FROM ({}) q) TO STDOUT").format(into("s", t.oid), _bucket_query(t, keys, 0, hash_name))
        with target.transaction():
            delete(target, "s", t.oid)
            with source.cursor().copy(query) as out, target.cursor().copy(sql.SQL(
                    "COPY {} (slot_name, table_oid, side, bucket, rows, checksum) FROM STDIN").format(
                    cb.PREVALIDATED.identifier)) as copy_in:
                for data in out:
                    copy_in.write(data)

    def target_job(conns, t):
        (target,) = conns
        with target.transaction():
            delete(target, "t", t.oid)
            target.execute(sql.SQL("INSERT INTO {} (slot_name, table_oid, side, bucket, rows, checksum) "
                                   "SELECT {}, q.* FROM ({}) q").format(
                cb.PREVALIDATED.identifier, into("t", t.oid), _bucket_query(t, keys, 1, hash_name)))

    with ThreadPoolExecutor(2) as pool:   # both sides at once
        fs = pool.submit(run_longest_first, tables, workers, lambda: _session(source_ep, target_ep), source_job,
                         cost=lambda t: t.bytes)
        ft = pool.submit(run_longest_first, tables, workers, lambda: _session(target_ep), target_job,
                         cost=lambda t: t.bytes)
        fs.result(), ft.result()


def differing_buckets(target, slot: str) -> dict[int, set[int]]:
    """Table oid -> buckets whose two sides differed at the pre-validation (or one side lacks)."""
    rows = target.execute(sql.SQL(
        "SELECT coalesce(s.table_oid, t.table_oid), coalesce(s.bucket, t.bucket) FROM "
        "(SELECT * FROM {p} WHERE slot_name = %s AND side = 's') s FULL JOIN "
        "(SELECT * FROM {p} WHERE slot_name = %s AND side = 't') t ON s.table_oid = t.table_oid AND s.bucket = t.bucket "
        "WHERE s.rows IS DISTINCT FROM t.rows OR s.checksum IS DISTINCT FROM t.checksum").format(
        p=cb.PREVALIDATED.identifier), (slot, slot)).fetchall()
    out: dict[int, set[int]] = {}
    for oid, bucket in rows:
        out.setdefault(int(oid), set()).add(int(bucket))
    return out


def bucket_counts(target, slot: str) -> dict[int, int]:
    """Table oid -> how many buckets the pre-validation read of it on the source."""
    return {int(oid): int(n) for oid, n in target.execute(sql.SQL(
        "SELECT table_oid, count(*) FROM {} WHERE slot_name = %s AND side = 's' GROUP BY 1").format(
        cb.PREVALIDATED.identifier), (slot,)).fetchall()}


def _entry(t, keys) -> dict:
    key, shift = keys.get(t.oid, (None, None))
    return {"oid": t.oid, "source_name": [t.source.schema, t.source.name],
            "target_name": [t.target.schema, t.target.name], "target": str(t.target),
            "columns": [list(c) for c in t.columns], "condition": t.condition, "bytes": t.bytes,
            "key_column": key, "shift": shift}


def prevalidate(params: dict, state: dict) -> dict:
    """The task's body: {"tables": {source table: its entry}, "summary": words for the approval}."""
    from include.pgferry.online import subscription as sub
    if sub.engine_of(params) == sub.SUBSCRIPTION:
        text = ("not done with apply_engine subscription (the target's worker records no changes): the cutover's "
                "validate reads every table")
        log.info("prevalidate: %s", text)
        return {"tables": {}, "summary": text}
    if not wants(params, "data"):
        return {"tables": {}, "summary": "no data migrated: nothing to pre-validate"}
    slot = state["online"]["slot"]
    source_ep, target_ep = endpoints(params)
    plan = Plan.from_xcom(state["plan"])
    with source_ep.connect(autocommit=True, application_name="pgferry prevalidate") as source, \
            target_ep.connect(autocommit=True, application_name="pgferry prevalidate") as target:
        tables = comparison.tables_to_compare(source, target, params, plan)
        keys = _keys(source, tables)
        ap.ensure_bookkeeping(target)
        with target.transaction():
            cb.ensure_tables(target)
        _register(target, slot, tables, keys)
        # after the registration: a write by someone else from here on is recorded (one before is in the reads)
        target.execute("SET lock_timeout = '60s'")
        for t in tables:
            cb.watch(target, slot, t.target, t.oid)
    checksum_buckets(source_ep, target_ep, slot, tables, keys, state.get("row_hash", "md5"), parallelism(params))
    with target_ep.connect(autocommit=True, application_name="pgferry prevalidate") as target:
        differing = differing_buckets(target, slot)
        counts = bucket_counts(target, slot)
    buckets = sum(counts.values())
    unsettled = sum(len(b) for b in differing.values())
    summary = (f"{len(tables)} table(s) checksummed in {buckets} bucket(s) ({len(keys)} by key); "
               f"{unsettled} bucket(s) in {len(differing)} table(s) differed (changes in flight): the cutover's "
               f"validate reads those again, with every bucket changed from now on")
    log.info("prevalidate: %s", summary)
    for t in tables:
        if t.oid in differing:
            log.info("  %s: %d bucket(s) differ now", t.key, len(differing[t.oid]))
    return {"tables": {t.key: _entry(t, keys) for t in tables}, "summary": summary}


# -- at the cutover ---------------------------------------------------------------------------------

def changed_after(source, slot: str, publication: str) -> set[int] | None:
    """Source table oids with changes after the slot's position (the apply's end): written after the freeze
    and never applied. None: more than AFTER_PEEK_MAX changes: read them all again (so does a caller
    without the publication)."""
    flushed = po.lsn_int(source.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()[0])
    rows = ap.peek(source, slot, publication, flushed, AFTER_PEEK_MAX)
    if len(rows) >= AFTER_PEEK_MAX:
        return None
    out: set[int] = set()
    for tx in po.Transactions().feed(rows):
        for change in tx.changes:
            out.update(r.oid for r in change.relations)
    return out


def _reread(endpoint: PgEndpoint, jobs: list[tuple[str, sql.Composed, list[int], int]], workers: int) -> dict:
    """{table key: {bucket: (rows, checksum)}} of each job's buckets, read now."""
    def work(conns, job):
        (conn,) = conns
        return {int(b): (int(n), int(s)) for b, n, s in conn.execute(job[1], (job[2],)).fetchall()}

    results = run_longest_first(jobs, workers, lambda: _session(endpoint), work, cost=lambda j: j[3])
    return {job[0]: r for job, r in zip(jobs, results)}


def settle(params: dict, state: dict, pre: dict) -> dict:
    """{source table: {"result": validate's row of it, "target", "columns", "condition"}} for the pre-validated
    tables whose unchanged buckets need no new read; the others are not in it (validate reads them whole).
    Logs what was read again and why a table is read whole."""
    tables = (pre or {}).get("tables") or {}
    if not tables:
        return {}
    names = state["online"]
    slot = names["slot"]
    source_ep, target_ep = endpoints(params)
    with target_ep.connect(autocommit=True, application_name="pgferry validate") as target:
        watched = cb.watched(target, slot)
    if not watched:
        # a validate cleared after its first try removed it
        log.warning("validate: the pre-validation's bookkeeping is gone from the target: every table is read")
        return {}
    with source_ep.connect(autocommit=True, application_name="pgferry validate") as source:
        after = changed_after(source, slot, names["publication"]) \
            if fetch_one(source, "find_publication", name=names["publication"]) else None
    with target_ep.connect(autocommit=True, application_name="pgferry validate") as target:
        whole = dict(target.execute(sql.SQL("SELECT table_oid, why FROM {} WHERE slot_name = %s").format(
            cb.WHOLE.identifier), (slot,)).fetchall())
        changed: dict[int, set[int]] = {}
        for oid, bucket in target.execute(sql.SQL("SELECT table_oid, bucket FROM {} WHERE slot_name = %s").format(
                cb.BUCKETS.identifier), (slot,)).fetchall():
            changed.setdefault(int(oid), set()).add(int(bucket))
        differing = differing_buckets(target, slot)
        totals = {(int(oid), side): (int(n), int(s)) for oid, side, n, s in target.execute(sql.SQL(
            "SELECT table_oid, side, sum(rows), sum(checksum) FROM {} WHERE slot_name = %s GROUP BY 1, 2").format(
            cb.PREVALIDATED.identifier), (slot,)).fetchall()}
        counts = bucket_counts(target, slot)
        plans: dict[str, tuple[dict, set[int]]] = {}
        for key, e in tables.items():
            oid = e["oid"]
            why = None
            if oid not in watched:
                why = "not registered"
            elif oid in whole:
                why = whole[oid]
            elif after is None or oid in after:
                why = "changed on the source after the apply's last batch"
            elif (oid, "s") not in totals or (oid, "t") not in totals:
                why = "its pre-validation did not finish"
            todo = changed.get(oid, set()) | differing.get(oid, set())
            if why is None and e["key_column"] is None and todo:
                why = "changed since the pre-validation (one bucket)"
            if why is None and len(todo) * 2 > max(counts.get(oid, 0), 1):
                why = f"{len(todo)} of its {counts.get(oid, 0)} buckets changed"
            if why:
                log.info("validate reads %s whole: %s", key, why)
                continue
            plans[key] = (e, todo)
        before = {}
        for key, (e, todo) in plans.items():
            if todo:
                # a join, not `bucket = ANY(array)`: tens of thousands of elements tested row by row take minutes
                for side, bucket, n, s in target.execute(sql.SQL(
                        "SELECT p.side, p.bucket, p.rows, p.checksum FROM unnest(%s::int8[]) AS b(bucket) "
                        "JOIN {} p ON p.bucket = b.bucket WHERE p.slot_name = %s AND p.table_oid = %s").format(
                        cb.PREVALIDATED.identifier), (sorted(todo), slot, e["oid"])):
                    before[(key, side, int(bucket))] = (int(n), int(s))
    src_jobs, tgt_jobs = [], []
    hash_name = state.get("row_hash", "md5")
    for key, (e, todo) in plans.items():
        if not todo:
            continue
        cols = e["columns"]
        target_key = dict((c[0], c[1]) for c in cols)[e["key_column"]]
        src_jobs.append((key, comparison.bucket_reread_query(
            *e["source_name"], [(c[0], c[2]) for c in cols], hash_name, e["key_column"], e["shift"]),
            sorted(todo), e["bytes"]))
        tgt_jobs.append((key, comparison.bucket_reread_query(
            *e["target_name"], [(c[1], c[2]) for c in cols], hash_name, target_key, e["shift"]),
            sorted(todo), e["bytes"]))
    workers = parallelism(params)
    with ThreadPoolExecutor(2) as pool:
        fs = pool.submit(_reread, source_ep, src_jobs, workers)
        ft = pool.submit(_reread, target_ep, tgt_jobs, workers)
        now_src, now_tgt = fs.result(), ft.result()
    out = {}
    reread = 0
    for key, (e, todo) in plans.items():
        sides = {}
        for side, now in (("s", now_src.get(key, {})), ("t", now_tgt.get(key, {}))):
            n, s = totals[(e["oid"], side)]
            for b in todo:
                old = before.get((key, side, b), (0, 0))
                new = now.get(b, (0, 0))
                n, s = n - old[0] + new[0], s - old[1] + new[1]
            sides[side] = (n, s)
        reread += len(todo)
        (srows, ssum), (trows, tsum) = sides["s"], sides["t"]
        result = {"table": key, "target": e["target"], "source_rows": srows, "target_rows": trows,
                  "rows_match": srows == trows, "checksum_match": ssum == tsum, "ok": srows == trows and ssum == tsum,
                  "extension": None, "buckets_read_again": len(todo)}
        out[key] = {"result": result, "target": e["target"], "columns": e["columns"], "condition": e["condition"]}
    log.info("validate: %d table(s) settled from the pre-validation by reading %d changed bucket(s) again; "
             "%d read whole", len(out), reread, len(tables) - len(out))
    return out
