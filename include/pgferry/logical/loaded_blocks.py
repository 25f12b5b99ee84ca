"""The target's record of which block ranges are loaded: how a block-range unit keeps the retry rule.

A unit of a table cut into key ranges clears its own rows by a WHERE on the target before it copies
(copying.py). A block range cannot: target rows have no relation to the source's ctids. So a block-range
unit instead records, in the same target transaction as its COPY, one row in `pgferry_copy.loaded_blocks`
(the target table's oid, the range, the cut's digest, the rows it loaded). COPY and record commit together
or not at all, so:

- a unit whose row is there was loaded whole by an earlier try: it is skipped (checked by content: the
  same table, the same range, the same cut; a row of the same first block that says otherwise is refused,
  named);
- a unit whose row is not there left nothing (its try rolled back entirely): it loads, with nothing to clear;
- rows of another cut of the same table (a plan that cut it differently) are refused, named: which of the
  table's rows they account for cannot be told apart from this cut's.

Rows of the table that no range accounts for (a whole-table load of an earlier plan, a data-only run into
a table that had rows, a retry after finalize removed the record) are removed by the first unit of the cut
to run: `DELETE ... WHERE NOT EXISTS (a record of the table)`, one statement, so its snapshot sees either
no record (and then no committed row of this cut either: record and rows commit together) or a record (and
deletes nothing). Rows other lanes commit after that snapshot are not touched. After finalize has removed
the record, a cleared lane's first range of a table removes the whole table's rows, the other lanes' ranges
too: clearing one lane of a table cut into block ranges then needs the others cleared as well (the log says
so; validate names the table otherwise).

A unit that clears a table another way (TRUNCATE of a whole table, DELETE of a key range) removes the
table's records in its transaction: they no longer describe the table. finalize removes the schema, so
validate never sees it (and its schema dump of the target leaves it out in any case).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from include.pgferry.model import QualifiedName, Unit
from include.pgferry.pg.bookkeeping import create_tables

log = logging.getLogger("pgferry")

SCHEMA = "pgferry_copy"
LOADED = QualifiedName(SCHEMA, "loaded_blocks")


class OtherCut(RuntimeError):
    """The target's record of loaded ranges of a table does not fit the unit's cut: refused."""


@dataclass(frozen=True)
class Loaded:
    lo: int
    hi: int | None
    cut: str
    rows: int
    loaded_at: str


def ensure(target: psycopg.Connection):
    """`pgferry_copy.loaded_blocks`; idempotent, and safe when lanes make it at once."""
    create_tables(target, SCHEMA, [sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (table_oid oid NOT NULL, table_name text NOT NULL, "
        "first_block bigint NOT NULL, end_block bigint, cut text NOT NULL, rows bigint NOT NULL, "
        "loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (table_oid, first_block))"
    ).format(LOADED.identifier)],
        f"pgferry: a table cut into block ranges (no single-column integer key) records its loaded ranges in "
        f"{LOADED} on the target, which the target user may not create: GRANT CREATE ON DATABASE to it, or "
        f"create the schema {SCHEMA} owned by it")


def present(target: psycopg.Connection) -> bool:
    return target.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.{LOADED.name}",)).fetchone()[0]


def _oid(target: psycopg.Connection, table: QualifiedName) -> int:
    """The target table's oid: a table made again (a new structure) is another table, its records none."""
    return target.execute("SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                          "WHERE n.nspname = %s AND c.relname = %s", (table.schema, table.name)).fetchone()[0]


def _describe(lo: int, hi: int | None) -> str:
    return f"blocks {lo}.." + ("end" if hi is None else f"{hi - 1}")


def found(target: psycopg.Connection, unit: Unit) -> Loaded | None:
    """Inside the unit's transaction: the record of an earlier try that loaded this unit, or None. Refuses
    (OtherCut) a record of another cut of the table, or one of this range's first block that differs."""
    oid = _oid(target, unit.target)
    b = unit.blocks
    other = target.execute(sql.SQL("SELECT cut, count(*), min(loaded_at)::text FROM {} WHERE table_oid = %s "
                                   "AND cut <> %s GROUP BY cut").format(LOADED.identifier), (oid, b.cut)).fetchall()
    if other:
        cut, n, at = other[0]
        raise OtherCut(
            f"{unit.id}: the target's record {LOADED} says {n} block range(s) of {unit.target} were loaded by "
            f"another cut of the table (cut {cut}, from {at}; this plan's cut is {b.cut}): the rows they loaded "
            f"cannot be told apart from this cut's. Empty the table and its record (TRUNCATE {unit.target}; "
            f"DELETE FROM {LOADED} WHERE table_oid = '{unit.target}'::regclass) and clear the copy lanes, or run "
            f"the plan that made them")
    row = target.execute(sql.SQL("SELECT first_block, end_block, cut, rows, loaded_at::text FROM {} "
                                 "WHERE table_oid = %s AND first_block = %s").format(LOADED.identifier),
                         (oid, b.lo)).fetchone()
    if row is None:
        return None
    loaded = Loaded(*row)
    if loaded.hi != b.hi:
        raise OtherCut(f"{unit.id}: the target's record {LOADED} says {_describe(loaded.lo, loaded.hi)} of "
                       f"{unit.target} were loaded (cut {loaded.cut}), not {_describe(b.lo, b.hi)} as this unit "
                       f"has it: refused")
    return loaded


def clear_unaccounted(target: psycopg.Connection, unit: Unit) -> int:
    """Inside the unit's transaction: remove the table's rows when no range of it is recorded (they are
    no range's: see the module's doc); how many."""
    oid = _oid(target, unit.target)
    removed = target.execute(sql.SQL("DELETE FROM ONLY {} WHERE NOT EXISTS (SELECT FROM {} WHERE table_oid = %s)")
                             .format(unit.target.identifier, LOADED.identifier), (oid,)).rowcount
    if removed:
        log.warning("%s: removed %d rows of %s that no recorded block range accounts for (a load before this cut, or "
                    "one whose record finalize removed): every range of the table loads again, so every copy lane "
                    "holding one must run (clear them all, not one)", unit.id, removed, unit.target)
    return removed


def record(target: psycopg.Connection, unit: Unit, rows: int):
    """Inside the unit's transaction, after its COPY: the unit is loaded (commits with the rows)."""
    b = unit.blocks
    target.execute(sql.SQL("INSERT INTO {} (table_oid, table_name, first_block, end_block, cut, rows) "
                           "VALUES (%s, %s, %s, %s, %s, %s)").format(LOADED.identifier),
                   (_oid(target, unit.target), str(unit.target), b.lo, b.hi, b.cut, rows))


def forget_table(target: psycopg.Connection, unit: Unit):
    """Inside a transaction that clears the table another way: its records no longer describe it."""
    if present(target):
        target.execute(sql.SQL("DELETE FROM {} WHERE table_oid = %s").format(LOADED.identifier),
                       (_oid(target, unit.target),))


def remove(target: psycopg.Connection) -> bool:
    """The whole record, schema and all (finalize: every unit is loaded by then); whether it was there."""
    if not target.execute("SELECT to_regnamespace(%s) IS NOT NULL", (SCHEMA,)).fetchone()[0]:
        return False
    target.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    return True
