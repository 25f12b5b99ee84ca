"""Binary against text COPY of a PostGIS table, through pgferry's own copy path (not a timed test).

    python -m bench.extension_types [--rows 200000] [--rounds 3] [--workdir DIR] [--keep]

Builds two throwaway clusters (or reuses them under --workdir), a table of points, polygons, geography
and hstore on the source (deterministic), PostGIS and hstore on the target in the same versions, then
loads the table with copying.copy_unit in binary and in text format, alternating, `rounds` times each,
into the same target table (each load clears what the previous one loaded, as a retried unit does).
Prints each load's time, the medians and text/binary; needs make extensions-deps.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from include.pgferry.logical.copying import copy_unit  # noqa: E402
from include.pgferry.model import QualifiedName, Unit  # noqa: E402

DB = "bench_ext"
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TABLE IF NOT EXISTS public.parcels (
    id bigint PRIMARY KEY,
    centre geometry(Point, 4326),
    outline geometry(Polygon, 4326),
    area geography(Polygon, 4326),
    tags hstore
)"""
DATA = """
INSERT INTO public.parcels
SELECT i,
       ST_SetSRID(ST_MakePoint(8 + (i %% 1000) / 1000.0, 47 + (i / 1000) / 1000.0), 4326),
       ST_SetSRID(ST_Buffer(ST_MakePoint(8 + (i %% 1000) / 1000.0, 47 + (i / 1000) / 1000.0), 0.0004, 4), 4326),
       ST_Buffer(ST_MakePoint(8 + (i %% 1000) / 1000.0, 47 + (i / 1000) / 1000.0), 0.0004, 4)::geography,
       hstore(ARRAY['kind', 'rank'], ARRAY[CASE WHEN i %% 3 = 0 THEN 'field' ELSE 'yard' END, i::text])
FROM generate_series(1, %(rows)s) AS i"""
COLUMNS = ("id", "centre", "outline", "area", "tags")


def unit(binary: bool) -> Unit:
    table = QualifiedName("public", "parcels")
    return Unit(id="public.parcels", oid=0, source=table, target=table, columns=COLUMNS, target_columns=COLUMNS,
                binary=binary, range=None, bytes=0)


def prepare(src, tgt, rows: int):
    for cluster in (src, tgt):
        if not cluster.query("SELECT 1 FROM pg_database WHERE datname = %s", params=[DB]):
            cluster.recreate_db(DB)
        with cluster.connect(DB) as conn:
            conn.execute(SCHEMA)
    with src.connect(DB) as conn:
        if conn.execute("SELECT count(*) FROM public.parcels").fetchone()[0] != rows:
            conn.execute("TRUNCATE public.parcels")
            conn.execute(DATA, {"rows": rows})
            conn.execute("VACUUM ANALYZE public.parcels")
    versions = [c.query("SELECT extname, extversion FROM pg_extension WHERE extname IN ('postgis', 'hstore') "
                        "ORDER BY 1", DB) for c in (src, tgt)]
    assert versions[0] == versions[1], f"the extensions differ between the clusters: {versions}"
    return versions[0]


def load(src, tgt, binary: bool) -> tuple[float, int, int]:
    with psycopg.connect(src.dsn(DB), autocommit=True) as s, psycopg.connect(tgt.dsn(DB), autocommit=True) as t:
        started = time.monotonic()
        result = copy_unit(s, t, unit(binary))
        return time.monotonic() - started, result.rows, result.bytes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="leave the clusters running under --workdir")
    args = ap.parse_args(argv)
    from localstack.pgcluster import PgCluster
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pgferry-bench-ext-"))
    src, tgt = PgCluster(workdir, "source").start(), PgCluster(workdir, "target").start()
    try:
        versions = prepare(src, tgt, args.rows)
        size = src.query("SELECT pg_size_pretty(pg_table_size('public.parcels'))", DB)[0][0]
        print(f"public.parcels: {args.rows} rows, {size}; extensions {versions} on both sides")
        times = {True: [], False: []}
        for r in range(args.rounds):
            for binary in ((True, False) if r % 2 == 0 else (False, True)):   # alternate who goes first
                seconds, rows, nbytes = load(src, tgt, binary)
                assert rows == args.rows, (rows, args.rows)
                times[binary].append(seconds)
                print(f"round {r + 1} {'binary' if binary else 'text  '}: {seconds:6.2f} s, {nbytes / 1e6:7.1f} MB "
                      f"on the wire")
        b, t = statistics.median(times[True]), statistics.median(times[False])
        print(f"median binary {b:.2f} s, text {t:.2f} s: text/binary {t / b:.2f}x")
    finally:
        if not args.keep:
            src.destroy()
            tgt.destroy()


if __name__ == "__main__":
    main()
