"""Cuts the data into work units of similar size and deals them to copy lanes, largest first.

A unit is a whole table (or partition), or a key range of a big table with a single-column integer
key. Lanes are the mapped copy tasks: `parallelism` of them, each working through its units in turn,
so that all lanes finish at about the same time (longest-processing-time-first assignment).
"""
from __future__ import annotations

import psycopg
from psycopg import sql

from include.pgferry.catalog import fetch
from include.pgferry.selection import copy_columns, data_tables, relation_key

MIN_SPLIT_BYTES = 64 * 1024 * 1024
# A whole table loads with TRUNCATE + COPY FREEZE; a table cut into ranges loads without FREEZE, and its
# first reader (foreign key validation, validate, autovacuum) then rewrites every page to set hint bits.
# A table up to this much above a lane's fair share therefore stays whole: a slightly uneven finish costs
# less than that second pass.
SPLIT_TOLERANCE = 1.25


def _unit(rel: dict, binary: bool, key_range: dict | None, est_bytes: int, part: str = "") -> dict:
    return {
        "id": relation_key(rel) + part,
        "oid": rel["oid"],
        "schema": rel["schema"], "name": rel["name"],
        "target_schema": rel["target_schema"], "target_name": rel["target_name"],
        "columns": [c["name"] for c in copy_columns(rel)],
        "target_columns": [c["target_name"] for c in copy_columns(rel)],
        "binary": binary and all(c["binary_safe"] for c in copy_columns(rel)),
        "range": key_range,
        "bytes": est_bytes,
    }


def split_parts(table_bytes: int, total_bytes: int, lanes: int, split_bytes: int | None = None) -> int:
    """Into how many key ranges a table is cut: 1 unless it is clearly bigger than a lane's fair share
    (or than `split_bytes`), then pieces of about half a share, so that the pieces still deal out evenly."""
    share = split_bytes or max(MIN_SPLIT_BYTES, total_bytes // max(lanes, 1))
    threshold = split_bytes or int(share * SPLIT_TOLERANCE)
    if table_bytes <= threshold:
        return 1
    return min(-(-table_bytes * 2 // share), 64)


def plan_units(source: psycopg.Connection, plan: dict, lanes: int, binary_ok: bool,
               split_bytes: int | None = None) -> list[list[dict]]:
    """Return `lanes` lists of units (some may be empty when there are few units)."""
    tables = data_tables(plan)
    total = sum(t["bytes"] for t in tables) or 1
    keys = {}
    for k in fetch(source, "list_split_keys"):
        keys.setdefault(k["table_oid"], k)
    units = []
    for rel in tables:
        key = keys.get(rel["oid"])
        parts = split_parts(rel["bytes"], total, lanes, split_bytes)
        if parts > 1 and key is not None:
            lo, hi = source.execute(sql.SQL("SELECT min({c}), max({c}) FROM ONLY {t}").format(
                c=sql.Identifier(key["column"]), t=sql.Identifier(rel["schema"], rel["name"]))).fetchone()
            if lo is not None and hi > lo:
                step = (hi - lo + parts) // parts
                bounds = [lo + i * step for i in range(parts)] + [None]
                bounds[0] = None   # open ends: rows outside min..max at copy time still belong to a unit
                for i in range(parts):
                    units.append(_unit(rel, binary_ok, {"column": key["column"], "lo": bounds[i],
                                                        "hi": bounds[i + 1]},
                                       rel["bytes"] // parts, f" [{i + 1}/{parts}]"))
                continue
        units.append(_unit(rel, binary_ok, None, rel["bytes"]))
    units.sort(key=lambda u: -u["bytes"])
    lanes_out = [[] for _ in range(max(1, lanes))]
    loads = [0] * len(lanes_out)
    for u in units:
        i = loads.index(min(loads))
        lanes_out[i].append(u)
        loads[i] += max(u["bytes"], 8192)
    return lanes_out
