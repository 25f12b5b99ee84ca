"""What pg_dump would dump the data of, for a run's selection, read from the source's catalog alone.

validate compares exactly this list (logical/comparison.py holds the plan to it), so a table the plan
missed cannot pass unseen; the plan side may read the same list. One catalog read,
sql/list_dumped_data.sql: tables and partitions, sequences, extension configuration tables with the
filter pg_dump dumps them with.
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg

from include.pgferry.model import QualifiedName
from include.pgferry.pg.catalog import fetch
from include.pgferry.pg.names import parse_object_spec, split_qualified


@dataclass(frozen=True)
class DumpedData:
    """A table or sequence whose data pg_dump dumps for the run's selection (sql/list_dumped_data.sql)."""
    oid: int
    source: QualifiedName
    relkind: str                  # "r": a table or partition, "S": a sequence
    extension: str | None = None  # a configuration table (or sequence) of this extension
    condition: str = ""           # the rows pg_dump dumps of a configuration table: its WHERE ("": every row)
    bytes: int = 0
    columns: tuple[tuple[str, int], ...] = ()       # (name, type oid), in order
    chosen_columns: tuple[str, ...] | None = None   # the selection's column list (None: every column)
    owner: tuple[int, str] | None = None            # a sequence's owning table (oid) and column


def dumped_data(conn: psycopg.Connection, objects, exclude) -> list[DumpedData]:
    """Every table and sequence whose data the run's selection (the objects and exclude Params) moves,
    read from the source's catalog (one read): what pg_dump would dump for it. Reusable by the plan side:
    validate holds the plan to this list."""
    return data_in_scope(fetch(conn, "list_dumped_data"), objects, exclude)


def data_in_scope(rows: list[dict], objects, exclude) -> list[DumpedData]:
    """The rows of sql/list_dumped_data.sql the selection takes, by pg_dump's rules and pgferry's: no
    objects is the whole database; a schema takes its tables and sequences, extension configuration
    tables included (pg_dump dumps their filtered rows when their schema is chosen); a table takes
    itself, its partitions (whatever their schema, as pgferry's selection) and the sequences its chosen
    columns own; `exclude` takes a relation back. Configuration tables come with their filter."""
    # the Params' syntax was checked by precheck; a malformed entry cannot reach here
    specs = [parse_object_spec(text) for text in objects or []]
    excludes = {tuple(split_qualified(text, max_parts=2)[0]) for text in exclude or []}
    whole_schemas = {s.schema for s in specs if s.table is None}
    named = {(s.schema, s.table): s.columns for s in specs if s.table is not None}
    chosen: dict[int, tuple[str, ...] | None] = {}
    for r in rows:
        if r["relkind"] == "S":
            continue
        key = (r["schema"], r["name"])
        if key in named:
            chosen[r["oid"]] = named[key]
        elif not specs or r["schema"] in whole_schemas:
            chosen[r["oid"]] = None
    changed = True
    while changed:   # partitions follow their parent, level by level
        changed = False
        for r in rows:
            if r["is_partition"] and r["parent_oid"] in chosen and r["oid"] not in chosen:
                chosen[r["oid"]] = chosen[r["parent_oid"]]
                changed = True
    by_name = {(r["schema"], r["name"]): r["oid"] for r in rows}
    for key in excludes:
        chosen.pop(by_name.get(tuple(key)), None)
    out = []
    for r in rows:
        if r["relkind"] == "S":
            owner = r["owner_table_oid"]
            if owner is not None:   # an owned sequence follows its table's column
                taken = owner in chosen and (chosen[owner] is None or r["owner_column"] in chosen[owner])
            else:
                taken = not specs or r["schema"] in whole_schemas
            if not taken or (r["schema"], r["name"]) in excludes:
                continue
        elif r["relkind"] != "r" or r["oid"] not in chosen:
            continue   # partitioned parents hold no rows of their own
        out.append(DumpedData(r["oid"], QualifiedName(r["schema"], r["name"]), r["relkind"], r["extension"],
                              r["condition"] or "", r["bytes"], tuple((c[0], c[1]) for c in r["columns"] or ()),
                              chosen.get(r["oid"]),
                              (r["owner_table_oid"], r["owner_column"]) if r["owner_table_oid"] is not None else None))
    return out
