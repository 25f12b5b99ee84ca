"""Source-against-target checks: rows and content per table, sequences, objects by kind, write freeze.

Content checksum: an order-independent sum of 64-bit slices of md5(row text) over the migrated columns,
computed in SQL on each side at the same time (each table read once per side; nothing row by row in
Python). Both sessions render values the same way (UTC, ISO dates, extra_float_digits=3).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql

from include.pgferry.catalog import fetch
from include.pgferry.connections import PgEndpoint
from include.pgferry.selection import data_tables, relation_key


def checksum_query(schema: str, table: str, columns: list[str]) -> sql.Composed:
    row = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    return sql.SQL(
        "SELECT count(*), coalesce(sum(('x' || substr(md5(ROW({row})::text), 1, 16))::bit(64)::bigint), 0)::text "
        "FROM ONLY {table}").format(row=row, table=sql.Identifier(schema, table))


def table_checksums(endpoint: PgEndpoint, jobs: list[tuple[str, sql.Composed]], workers: int) -> dict:
    """Run checksum queries over `workers` sessions: {key: (rows, checksum)}."""
    results = {}

    def run(batch):
        with endpoint.connect(autocommit=True, application_name="pgferry validate") as conn:
            for key, q in batch:
                rows, digest = conn.execute(q).fetchone()
                results[key] = (rows, digest)

    workers = max(1, min(workers, len(jobs)))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, [jobs[i::workers] for i in range(workers)]))
    return results


def compare_tables(source: PgEndpoint, target: PgEndpoint, plan: dict, workers: int) -> list[dict]:
    tables = data_tables(plan)
    src_jobs, tgt_jobs = [], []
    for t in tables:
        key = relation_key(t)
        src_jobs.append((key, checksum_query(t["schema"], t["name"], [c["name"] for c in t["columns"]])))
        tgt_jobs.append((key, checksum_query(t["target_schema"], t["target_name"],
                                             [c["target_name"] for c in t["columns"]])))
    with ThreadPoolExecutor(2) as pool:   # both sides at once
        fs = pool.submit(table_checksums, source, src_jobs, workers)
        ft = pool.submit(table_checksums, target, tgt_jobs, workers)
        src, tgt = fs.result(), ft.result()
    out = []
    for t in tables:
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
