"""Builds the deterministic benchmark database on the source cluster.

    python -m bench.make_dataset --dsn "host=127.0.0.1 port=5432 user=postgres dbname=postgres" --size 1

Size in GB (about): pgbench tables at scale round(40 * size) (pgbench_accounts is ~60 % of the total,
with its primary key), pgbench_history filled with 200k * size rows (no primary key), and the typed
tables of bench/dataset.sql (identity, uuid, domains, enum, numeric, timestamptz, text[], jsonb, bytea,
inet, a range-partitioned table, a table without any key, a quoted mixed-case table) with indexes,
foreign keys, triggers, views, a materialized view, sequences and comments; row counts times `size`.
Server-side generation with fixed seeds: the same size gives the same bytes every time.
"""
from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
DATASET_VERSION = 1


def marker(size: float) -> str:
    return f"pgferry-bench dataset v{DATASET_VERSION} size={size:g}"


def _dsn_for(admin_dsn: str, dbname: str) -> str:
    parts = [p for p in admin_dsn.split() if not p.startswith("dbname=")]
    return " ".join(parts + [f"dbname={dbname}"])


def has_dataset(admin_dsn: str, dbname: str, size: float) -> bool:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (dbname,)).fetchone()
    return bool(row) and row[0] == marker(size)


def build(admin_dsn: str, dbname: str, size: float, bindir: Path, log=print) -> float:
    """Drop and build `dbname`; returns seconds taken."""
    t0 = time.monotonic()
    scale = max(1, round(40 * size))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname)))
    dsn = _dsn_for(admin_dsn, dbname)
    # pgbench tables: server-side generation (G) is deterministic; v = vacuum, p = primary keys, f = foreign keys
    subprocess.run([str(bindir / "pgbench"), "-q", "-i", "-s", str(scale), "-I", "dtGvpf", dsn],
                   check=True, capture_output=True, text=True)
    log(f"  pgbench tables at scale {scale}: {time.monotonic() - t0:.0f} s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SELECT setseed(0.17)")
        conn.execute(sql.SQL(
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler) "
            "SELECT 1 + floor(random() * {b10})::int, 1 + floor(random() * {b})::int, "
            "1 + floor(random() * {a})::int, floor(random() * 10000)::int - 5000, "
            "timestamp '2023-06-01' + random() * interval '30 days', NULL "
            "FROM generate_series(1, {n})").format(b10=scale * 10, b=scale, a=scale * 100000,
                                                   n=max(1, int(200000 * size))))
    subprocess.run([str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"mult={size:g}",
                    "-d", dsn, "-f", str(HERE / "dataset.sql")], check=True, capture_output=True, text=True)
    log(f"  typed tables: {time.monotonic() - t0:.0f} s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(dbname),
                                                                   sql.Literal(marker(size))))
    return time.monotonic() - t0


def main(argv=None):
    from localstack.pgcluster import pg_bindir
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", required=True, help="libpq DSN of a maintenance database on the source server")
    ap.add_argument("--db", default="shop")
    ap.add_argument("--size", type=float, default=1.0)
    a = ap.parse_args(argv)
    s = build(a.dsn, a.db, a.size, pg_bindir())
    print(f"built {a.db} (size {a.size:g}) in {s:.0f} s")


if __name__ == "__main__":
    main()
