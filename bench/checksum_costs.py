"""What proving a copied table equal costs per GiB on this machine, today's way and the in-flight way.

    python -m bench.checksum_costs [--size 1] [--workdir DIR] [--repeat 3] [--keep]

Today (validate, compare_rows): each server reads every table once and sums a 64-bit hash of each row
(`comparison.checksum_query` with the hash `comparison.row_hash` picks; the earlier "record" hash is measured
too): the cost is that query's CPU, on both servers.

In flight (issue 19's proposal): the copy lane hashes the COPY stream it relays, which costs no second read
of the source. A hash of stream bytes can only be compared with a hash of the same bytes, so the target's
side is its own rows read back as the same COPY stream (`COPY (SELECT ...) TO STDOUT (FORMAT binary)`,
in load order) and hashed the same way: the target server's COPY out, the reader's relay and its hashing,
plus the lane's hashing during the copy.

This measures, on the benchmark's source cluster and dataset (one session, no parallel workers, every table
read whole): the server CPU of the row-hash query, the server CPU of the binary COPY out, and the client CPU
of reading that stream with the copy lane's reader, bare and with sha256 (hashlib, OpenSSL: SHA-NI where the
CPU has it) and with crc32.
Both designs' CPU per GiB and their ratio are printed and written to <results>/<stamp>/checksum-costs.{txt,json}.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import zlib
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench.sampler import process_cpu  # noqa: E402
from include.pgferry.logical.comparison import checksum_query, row_hash  # noqa: E402
from include.pgferry.logical.copying import copy_out_blocks  # noqa: E402
from include.pgferry.logical.units import tables_without_binary_io  # noqa: E402

GIB = 2 ** 30
CONNECT_TIMEOUT_S = 15
STREAM_HASHES = {"sha256": lambda: hashlib.sha256(), "crc32": lambda: _Crc32()}

LIST_TABLES = sql.SQL("""
SELECT c.oid, n.nspname AS schema, c.relname AS name, pg_table_size(c.oid) AS bytes,
       array_agg(a.attname ORDER BY a.attnum) AS columns, array_agg(a.atttypid::int8 ORDER BY a.attnum) AS types
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
GROUP BY c.oid, n.nspname, c.relname ORDER BY bytes DESC""")


class _Crc32:
    def __init__(self):
        self.value = 0

    def update(self, data):
        self.value = zlib.crc32(data, self.value)


def tables(conn: psycopg.Connection) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(LIST_TABLES).fetchall()


def copy_out_statement(t: dict, binary: bool) -> sql.Composed:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in t["columns"])
    fmt = sql.SQL(" (FORMAT binary)") if binary else sql.SQL("")
    return sql.SQL("COPY (SELECT {} FROM ONLY {}) TO STDOUT{}").format(
        cols, sql.Identifier(t["schema"], t["name"]), fmt)


def measure_table(conn: psycopg.Connection, backend: int, t: dict, binary: bool, hash_now: str) -> dict:
    """One table: server CPU of the row-hash query (with `hash_now`, and with the earlier "record" hash) and of
    the COPY out; client CPU of reading the stream bare, and of each stream hash (timed around its own calls,
    in a second read); the stream's bytes."""
    out = {}
    columns = list(zip(t["columns"], t["types"]))
    for key, hash_name in (("row_hash_server_s", hash_now), ("record_hash_server_s", "record")):
        cpu0 = process_cpu(backend)
        out["rows"] = conn.execute(checksum_query(t["schema"], t["name"], columns, hash_name)).fetchone()[0]
        out[key] = process_cpu(backend) - cpu0
    for hashed in (False, True):
        hashers = {name: make() for name, make in STREAM_HASHES.items()} if hashed else {}
        spent = dict.fromkeys(hashers, 0.0)
        cpu0, client0, nbytes = process_cpu(backend), time.process_time(), 0
        with conn.cursor() as cur, cur.copy(copy_out_statement(t, binary)):
            for chunk in copy_out_blocks(conn, what=t["name"]):   # the copy lane's own reader
                nbytes += len(chunk)
                for name, hasher in hashers.items():
                    h0 = time.thread_time()
                    hasher.update(chunk)
                    spent[name] += time.thread_time() - h0
        if hashed:
            out.update({f"stream_{name}_client_s": s for name, s in spent.items()})
        else:
            out["copy_out_server_s"] = process_cpu(backend) - cpu0
            out["copy_out_client_s"] = time.process_time() - client0
        out["stream_bytes"] = nbytes
    return out


def measure(dsn: str, repeat: int = 1) -> dict:
    """Every table of the database at `dsn`, `repeat` times (the median of each figure is kept), summed, with
    both designs' CPU seconds per GiB of table."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")   # as validate reads: one process's CPU
        conn.execute("SET synchronize_seqscans = off")            # load order, as the in-flight read needs
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        text_only = tables_without_binary_io(conn)
        version = conn.info.server_version
        hash_now = row_hash(version, version)   # what validate and compare_rows use between two such servers
        per_table = {}
        for t in tables(conn):
            tries = [measure_table(conn, backend, t, t["oid"] not in text_only, hash_now) for _ in range(repeat)]
            per_table[f"{t['schema']}.{t['name']}"] = {
                "bytes": t["bytes"], **{k: statistics.median_low(x[k] for x in tries) for k in tries[0]}}
    totals = {k: sum(v[k] for v in per_table.values()) for k in next(iter(per_table.values()))}
    return {"tables": per_table, "totals": totals, "per_gib": costs_per_gib(totals), "row_hash": hash_now}


def costs_per_gib(totals: dict) -> dict:
    """CPU seconds per GiB of table for each piece and for both designs. The stream is hashed twice in the
    in-flight design: by the lane on the way in, by the reader on the way back."""
    gib = max(totals["bytes"], 1) / GIB
    per = {k: v / gib for k, v in totals.items() if k.endswith("_s")}
    today = 2 * per["row_hash_server_s"]
    read_back = per["copy_out_server_s"] + per["copy_out_client_s"]
    in_flight = {h: 2 * per[f"stream_{h}_client_s"] + read_back for h in STREAM_HASHES}
    return {**per, "gib": gib, "today_both_servers_s": today, "read_back_s": read_back,
            **{f"in_flight_{h}_s": v for h, v in in_flight.items()},
            # None when the tables are too small for a clock tick of CPU
            **{f"ratio_in_flight_{h}_to_today": v / today if today else None for h, v in in_flight.items()}}


def _ratio(r: float | None) -> str:
    return "?x" if r is None else f"{r:.2f}x"


def report(result: dict) -> str:
    p = result["per_gib"]
    rows = [(f"row-hash query, one server (validate, compare_rows: \"{result['row_hash']}\")", p["row_hash_server_s"]),
            ("row-hash query with the earlier \"record\" hash, one server", p["record_hash_server_s"]),
            ("binary COPY out, server", p["copy_out_server_s"]),
            ("reading that stream, client (the lane's reader)", p["copy_out_client_s"]),
            ("sha256 of the stream, client", p["stream_sha256_client_s"]),
            ("crc32 of the stream, client", p["stream_crc32_client_s"]),
            ("today: the row-hash query on both servers", p["today_both_servers_s"])]
    lines = [f"tables: {len(result['tables'])}, {p['gib']:.2f} GiB, {result['totals']['rows']:,} rows",
             "CPU seconds per GiB of table:"] + [f"  {what:<62}{v:6.2f}" for what, v in rows]
    for h in STREAM_HASHES:
        lines.append(f"  {'in flight, ' + h + ': lane hash + target COPY out + read + hash':<62}"
                     f"{p[f'in_flight_{h}_s']:6.2f}  ({_ratio(p[f'ratio_in_flight_{h}_to_today'])} today)")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=1.0, help="dataset size in GB (built if missing; default 1)")
    ap.add_argument("--repeat", type=int, default=3, help="reads of each table per figure (median; default 3)")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("PGFERRY_BENCH_DIR") or
                                                         Path(tempfile.gettempdir()) / "pgferry-bench"))
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--keep", action="store_true", help="leave the source cluster running at the end")
    a = ap.parse_args(argv)
    from bench import make_dataset
    from bench.run import DB, clusters, log
    from localstack.pgcluster import pg_bindir
    a.workdir.mkdir(parents=True, exist_ok=True)
    src, _ = clusters(a.workdir)
    src.start()
    try:
        if not make_dataset.has_dataset(src.dsn(), DB, a.size):
            log(f"building the dataset (size {a.size:g})")
            make_dataset.build(src.dsn(), DB, a.size, pg_bindir(), log=log)
        with src.connect(DB) as c:
            c.execute("CHECKPOINT")
        result = measure(src.dsn(DB), a.repeat)
    finally:
        if not a.keep:
            src.stop()
    result["meta"] = {"date": datetime.now().isoformat(timespec="seconds"), "size": a.size, "repeat": a.repeat,
                      "loadavg": os.getloadavg(), "cores": os.cpu_count()}
    out = a.results / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "checksum-costs.json").write_text(json.dumps(result, indent=2))
    (out / "checksum-costs.txt").write_text(report(result) + "\n")
    print(report(result))
    print(f"written: {out / 'checksum-costs.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
