"""Cuts the data into work units of similar size and deals them to copy lanes, largest first.

A unit is a whole table (or partition), a key range of a big table with a single-column integer key, or,
for a big table without one (a uuid or text key, a composite key, no key at all), a range of its physical
blocks: `ctid >= '(a,0)' AND ctid < '(b,0)'`, which PostgreSQL 14 and later read with a TID Range Scan, as
pgcopydb 0.18 does. On an older source such a table stays whole (a ctid range would be a full scan per
unit). Extension configuration tables stay whole always (their rows are the extension's filter's).

Lanes are the mapped copy tasks: `parallelism` of them. Each is dealt a share (longest processing time
first), but the shares only set how many lanes run and what a lane loads when the run's list is gone (a lane
cleared after finalize): every unit of the run goes into the target's list (logical/claims.py), and each lane
takes the largest unit left whenever it is free, any lane's share, so the lanes finish together whatever
their speed.
"""
from __future__ import annotations

import hashlib
import json
import logging

import psycopg
from psycopg import sql

from include.pgferry.model import BlockRange, KeyRange, Lane, Plan, Relation, Unit
from include.pgferry.pg.catalog import fetch, fetch_one

log = logging.getLogger("pgferry")

MIN_SPLIT_BYTES = 64 * 1024 * 1024
# A whole table loads with TRUNCATE + COPY FREEZE; a table cut into ranges loads without FREEZE, and its
# first reader (foreign key validation, validate, autovacuum) then rewrites every page to set hint bits.
# A table up to this much above a lane's fair share therefore stays whole: a slightly uneven finish costs
# less than that second pass.
SPLIT_TOLERANCE = 1.25
TID_RANGE_SCAN_FROM = 140000   # server_version_num: a ctid range is a TID Range Scan, not a full scan


def binary_columns(columns, same_version: set[str]) -> bool:
    """Can binary COPY carry every one of these columns? Each must be binary-safe by its type alone
    (selection.binary_copy_safe), or hold a base type of an extension that is in one version on both
    sides (its send and receive functions then write and read one format; whether it has them at all,
    list_tables_without_binary_io tells)."""
    return all(c.binary_safe or (c.extension and c.extension in same_version) for c in columns)


def _unit(rel: Relation, binary: bool, key_range: KeyRange | None, est_bytes: int, part: str = "",
          same_version: set[str] = frozenset(), blocks: BlockRange | None = None) -> Unit:
    columns = rel.copy_columns
    return Unit(id=str(rel.source) + part, oid=rel.oid, source=rel.source, target=rel.target,
                columns=tuple(c.name for c in columns), target_columns=tuple(c.target_name for c in columns),
                binary=binary and binary_columns(columns, same_version), range=key_range, bytes=est_bytes,
                filter=rel.filter, blocks=blocks)


def block_bounds(blocks: int, parts: int) -> list[tuple[int, int | None]]:
    """`parts` ranges of about equal block counts over a table of `blocks` blocks, as (first block, end block):
    the first from block 0, the last open-ended (None), so that together they take every row wherever it lies,
    also in blocks added after planning. Fewer ranges when the table has fewer blocks than `parts`; one range,
    (0, None), is the whole table."""
    parts = max(1, min(parts, blocks))
    starts = [i * blocks // parts for i in range(parts)]
    return list(zip(starts, starts[1:] + [None]))


def cut_digest(rel: Relation, bounds: list[tuple[int, int | None]]) -> str:
    """What makes a cut of one table: which table, into which target table, which columns, which ranges. Two
    plans that cut a table alike give one digest, so a loaded range recorded by one is trusted by the other;
    any other cut is a different one (logical/loaded_blocks.py refuses to mix them)."""
    what = {"source": rel.source.to_xcom(), "target": rel.target.to_xcom(), "oid": rel.oid,
            "columns": [[c.name, c.target_name] for c in rel.copy_columns], "bounds": bounds}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def splits_by_blocks(version_num: int) -> bool:
    """Can this source read a ctid range without a full scan (a TID Range Scan, PostgreSQL 14+)?"""
    return version_num >= TID_RANGE_SCAN_FROM


def block_units(rel: Relation, binary: bool, blocks: int, parts: int,
                same_version: set[str] = frozenset()) -> list[Unit]:
    """The units of a table cut into `parts` block ranges (one whole unit when it has too few blocks)."""
    bounds = block_bounds(blocks, parts)
    if len(bounds) < 2:
        return [_unit(rel, binary, None, rel.bytes, same_version=same_version)]
    cut = cut_digest(rel, bounds)
    n = len(bounds)
    return [_unit(rel, binary, None, rel.bytes // n, f" [{i + 1}/{n}]", same_version, BlockRange(lo, hi, cut))
            for i, (lo, hi) in enumerate(bounds)]


def deal_longest_first(units: list[Unit], lanes: int) -> list[list[Unit]]:
    """Biggest unit first, each to the lane with the least work so far (every unit counts at least one
    page, so many empty tables still spread)."""
    out: list[list[Unit]] = [[] for _ in range(max(1, lanes))]
    loads = [0] * len(out)
    for u in sorted(units, key=lambda u: -u.bytes):
        i = loads.index(min(loads))
        out[i].append(u)
        loads[i] += max(u.bytes, 8192)
    return out


def split_parts(table_bytes: int, total_bytes: int, lanes: int, split_bytes: int | None = None) -> int:
    """Into how many key ranges a table is cut: 1 unless it is clearly bigger than a lane's fair share
    (or than `split_bytes`), then pieces of about half a share, so that the pieces still deal out evenly."""
    share = split_bytes or max(MIN_SPLIT_BYTES, total_bytes // max(lanes, 1))
    threshold = split_bytes or int(share * SPLIT_TOLERANCE)
    if table_bytes <= threshold:
        return 1
    return min(-(-table_bytes * 2 // share), 64)


def tables_without_binary_io(source: psycopg.Connection) -> dict[int, str]:
    """{table oid: the types that keep it in text format}: tables with a column whose type (or a type
    inside it) has no binary send/receive function. "Built in" is not "binary-safe": aclitem and
    gtsvector are built in and have neither."""
    return {r["table_oid"]: r["types"] for r in fetch(source, "list_tables_without_binary_io")}


def plan_units(source: psycopg.Connection, plan: Plan, lanes: int, binary_ok: bool,
               split_bytes: int | None = None) -> list[Lane]:
    """Return `lanes` lanes of units (some may be empty when there are few units). The COPY format is
    decided per table: binary when both servers are of one major version (`binary_ok`) and every copied
    column's type can travel in binary (an extension's type: when the extension is in one version on both
    sides), text otherwise. An extension's configuration table is one unit, never cut: its rows are the
    extension's filter's.

    A big table without a single-column integer key is cut into block ranges of its main fork, counted now
    (pg_relation_size / block_size). Completeness never depends on that count: the ranges start at block 0
    and the last is open-ended, so every row is in exactly one range wherever it lies. Offline, the source
    takes no writes anyway. Online, the lanes read under the run's exported snapshot while plan_lanes counts
    the blocks outside it, maybe later: rows the snapshot sees in blocks added since (or after the count)
    fall into the open last range, and none the snapshot sees can be gone (the held snapshot holds back vacuum), so
    the count only decides how evenly the ranges divide the work."""
    tables = plan.data_tables
    same_version = {e.name for e in plan.extensions if e.same_version}
    text_only = tables_without_binary_io(source) if binary_ok else {}
    for rel in tables:
        if rel.oid in text_only:
            log.info("%s copies in text format: %s has no binary send/receive", rel.source, text_only[rel.oid])
        elif binary_ok and not binary_columns(rel.copy_columns, same_version):
            other = sorted({c.extension for c in rel.copy_columns if c.extension and c.extension not in same_version})
            if other:
                log.info("%s copies in text format: extension(s) %s not in one version on both sides",
                         rel.source, ", ".join(other))
    total = sum(t.bytes for t in tables) or 1
    keys = {}
    for k in fetch(source, "list_split_keys"):
        keys.setdefault(k["table_oid"], k)
    version = source.info.server_version
    units = []
    for rel in tables:
        binary = binary_ok and rel.oid not in text_only
        key = keys.get(rel.oid) if rel.filter is None else None
        parts = split_parts(rel.bytes, total, lanes, split_bytes)
        if parts > 1 and key is None and rel.filter is None:
            if splits_by_blocks(version):
                row = fetch_one(source, "show_block_count", schema=rel.source.schema, name=rel.source.name)
                units.extend(block_units(rel, binary, row["blocks"] if row else 0, parts, same_version))
                continue
            log.info("%s stays one unit: it has no single-column integer key, and a cut into block ranges needs "
                     "PostgreSQL 14 or later on the source (a TID Range Scan; the source is %s)", rel.source,
                     source.info.parameter_status("server_version") or version)
        if parts > 1 and key is not None:
            lo, hi = source.execute(sql.SQL("SELECT min({c}), max({c}) FROM ONLY {t}").format(
                c=sql.Identifier(key["column"]), t=rel.source.identifier)).fetchone()
            if lo is not None and hi > lo:
                step = (hi - lo + parts) // parts
                bounds = [lo + i * step for i in range(parts)] + [None]
                bounds[0] = None   # open ends: rows outside min..max at copy time still belong to a unit
                for i in range(parts):
                    units.append(_unit(rel, binary, KeyRange(key["column"], bounds[i], bounds[i + 1]),
                                       rel.bytes // parts, f" [{i + 1}/{parts}]", same_version))
                continue
        units.append(_unit(rel, binary, None, rel.bytes, same_version=same_version))
    return [Lane(tuple(lane)) for lane in deal_longest_first(units, lanes)]
