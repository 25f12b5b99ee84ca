"""Foreign keys: what checking one costs, the order they are checked in, and the check itself.

A key is added NOT VALID and then validated on its own (on a partitioned table, which cannot hold a
NOT VALID key, it is added and so checked in one go), over parallel sessions, longest first, so that the
sessions finish together and one bad row names itself instead of blocking all.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from include.pgferry.model import DdlStatement, Plan, QualifiedName
from include.pgferry.pg.endpoint import PgEndpoint, apply_settings
from include.pgferry.pg.names import display
from include.pgferry.pg.parallel import run_longest_first

log = logging.getLogger("pgferry")


@dataclass(frozen=True)
class KeyCheck:
    key: DdlStatement          # the ADD FOREIGN KEY as the source has it
    statement: sql.Composable | str   # what checks it: VALIDATE CONSTRAINT, or the ADD itself


def table_sizes(plan: Plan) -> dict[QualifiedName, int]:
    """Bytes of each target table, a partitioned table counting what all its partitions hold."""
    sizes: dict[QualifiedName, int] = {}
    by_oid = {r.oid: r for r in plan.relations}
    for r in plan.relations:
        sizes[r.target] = sizes.get(r.target, 0) + r.bytes
        parent = by_oid.get(r.parent_oid)
        while parent is not None:   # a leaf's bytes count for every partitioned ancestor
            sizes[parent.target] = sizes.get(parent.target, 0) + r.bytes
            parent = by_oid.get(parent.parent_oid)
    return sizes


def foreign_key_cost(key: DdlStatement, sizes: dict[QualifiedName, int]) -> int:
    """What checking a key reads: the referencing and the referenced table (partitions summed), in bytes."""
    return sizes.get(key.table, 0) + sizes.get(key.references, 0)


def check_order(checks: list[KeyCheck], plan: Plan) -> list[KeyCheck]:
    """The order the keys are checked in: the costliest first (the pool deals them in this order)."""
    sizes = table_sizes(plan)
    return sorted(checks, key=lambda c: -foreign_key_cost(c.key, sizes))


def offending_rows(conn: psycopg.Connection, key: DdlStatement, limit: int = 5) -> str:
    """Rows of the referencing table whose key has no match: for the error message."""
    if not key.referenced_columns:
        return ""
    fk = [sql.Identifier(c) for c in key.columns]
    pk = [sql.Identifier(c) for c in key.referenced_columns]
    match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(p, f) for p, f in zip(pk, fk))
    not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(f) for f in fk)
    q = sql.SQL("SELECT {cols} FROM {child} c WHERE {nn} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {m}) "
                "LIMIT {lim}").format(cols=sql.SQL(", ").join(sql.SQL("c.{}").format(f) for f in fk),
                                      child=key.table.identifier, nn=not_null, parent=key.references.identifier,
                                      m=match, lim=sql.Literal(limit))
    rows = conn.execute(q).fetchall()
    names = ", ".join(key.columns)
    return "; rows without a match: " + ", ".join(f"({names})=({', '.join(map(str, r))})" for r in rows)


def check_foreign_keys(target_ep: PgEndpoint, checks: list[KeyCheck], workers: int,
                       maintenance_work_mem: str) -> list[str]:
    """Run each key's check over `workers` sessions, in the given order; a key that does not hold is
    named with the rows that break it. Returns the failures, sorted."""
    def session():
        conn = target_ep.connect(autocommit=True, application_name="pgferry validate keys")
        apply_settings(conn, {"maintenance_work_mem": maintenance_work_mem})
        return conn

    def run(conn, check: KeyCheck) -> str | None:
        key = check.key
        t0 = time.monotonic()
        try:
            conn.execute(check.statement)
            log.info("foreign key %s on %s holds (%.1f s)", display(key.name), key.table, time.monotonic() - t0)
            return None
        except psycopg.Error as e:
            return (f"foreign key {display(key.name)} on {key.table} does not hold: "
                    f"{e.diag.message_detail or e.diag.message_primary}{offending_rows(conn, key)}")

    return sorted(f for f in run_longest_first(checks, workers, session, run) if f)
