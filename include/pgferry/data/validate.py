"""Source-against-target checks: rows and content per table, sequences, objects by kind, write freeze.

Content checksum: an order-independent sum of a 64-bit hash of each row's text over the migrated columns,
computed in SQL on each side at the same time (each table read once per side; nothing row by row in
Python). Both sessions render values the same way (UTC, ISO dates, extra_float_digits=3). The hash is
hashtextextended (PostgreSQL 11+, the stable hash behind hash partitioning; about 2.5x cheaper than
md5) when both servers have it, else 64 bits of md5.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql

from include.pgferry.catalog import fetch
from include.pgferry.connections import PgEndpoint
from include.pgferry.selection import data_tables, relation_key


HASHTEXTEXTENDED_SINCE = 110000
ROW_HASHES = {
    "hashtextextended": "hashtextextended(ROW({row})::text, 0)",
    "md5": "('x' || substr(md5(ROW({row})::text), 1, 16))::bit(64)::bigint",
}


def row_hash(source_version: int, target_version: int) -> str:
    return "hashtextextended" if min(source_version, target_version) >= HASHTEXTEXTENDED_SINCE else "md5"


def checksum_query(schema: str, table: str, columns: list[str], hash_name: str = "hashtextextended") -> sql.Composed:
    row = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    return sql.SQL("SELECT count(*), coalesce(sum(" + ROW_HASHES[hash_name] + "), 0)::text FROM ONLY {table}").format(
        row=row, table=sql.Identifier(schema, table))


def table_checksums(endpoint: PgEndpoint, jobs: list[tuple[str, sql.Composed]], workers: int) -> dict:
    """Run checksum queries (biggest first) over `workers` sessions: {key: (rows, checksum)}."""
    results, queue = {}, list(jobs)

    def run():
        with endpoint.connect(autocommit=True, application_name="pgferry validate") as conn:
            # one scan per session: parallel workers would only crowd the cores the other sessions use
            conn.execute("SET max_parallel_workers_per_gather = 0")
            while queue:
                try:
                    key, q = queue.pop(0)
                except IndexError:
                    return
                results[key] = tuple(conn.execute(q).fetchone())

    workers = max(1, min(workers, len(jobs)))
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(run) for _ in range(workers)]:
            f.result()
    return results


def compare_tables(source: PgEndpoint, target: PgEndpoint, plan: dict, workers: int, hash_name: str) -> list[dict]:
    tables = sorted(data_tables(plan), key=lambda t: -t["bytes"])
    src_jobs, tgt_jobs = [], []
    for t in tables:
        key = relation_key(t)
        src_jobs.append((key, checksum_query(t["schema"], t["name"], [c["name"] for c in t["columns"]], hash_name)))
        tgt_jobs.append((key, checksum_query(t["target_schema"], t["target_name"],
                                             [c["target_name"] for c in t["columns"]], hash_name)))
    with ThreadPoolExecutor(2) as pool:   # both sides at once
        fs = pool.submit(table_checksums, source, src_jobs, workers)
        ft = pool.submit(table_checksums, target, tgt_jobs, workers)
        src, tgt = fs.result(), ft.result()
    out = []
    for t in sorted(tables, key=relation_key):
        key = relation_key(t)
        (srows, ssum), (trows, tsum) = src[key], tgt[key]
        out.append({"table": key, "target": f"{t['target_schema']}.{t['target_name']}",
                    "source_rows": srows, "target_rows": trows, "rows_match": srows == trows,
                    "checksum_match": ssum == tsum, "ok": srows == trows and ssum == tsum})
    return out


def sequence_values(conn: psycopg.Connection, sequences: list[dict], target_side: bool) -> dict:
    out = {}
    for s in sequences:
        schema = s["target_schema"] if target_side else s["schema"]
        name = s["target_name"] if target_side else s["name"]
        last, called = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
            sql.Identifier(schema, name))).fetchone()
        out[f"{s['schema']}.{s['name']}"] = (int(last), bool(called))
    return out


def write_counters(conn: psycopg.Connection, plan: dict) -> dict:
    """{table oid as str: writes} for the migrated tables (JSON keys are strings)."""
    oids = {r["oid"] for r in data_tables(plan)}
    return {str(r["oid"]): int(r["writes"]) for r in fetch(conn, "list_write_counters") if r["oid"] in oids}


def object_counts(conn: psycopg.Connection, relations: list[tuple[str, str]], schemas: list[str]) -> dict:
    """Counts by kind of what belongs to the given relations and schemas."""
    rows = fetch(conn, "count_objects")
    rel_set = set(map(tuple, relations))
    counts: dict[str, int] = {}
    for r in rows:
        scoped = (r["schema"], r["relation"]) in rel_set if r["relation"] is not None else r["schema"] in schemas
        if scoped:
            counts[r["kind"]] = counts.get(r["kind"], 0) + r["n"]
    return dict(sorted(counts.items()))
