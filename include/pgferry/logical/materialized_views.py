"""Materialized views: refreshed on the target in dependency order."""
from __future__ import annotations

import psycopg
from psycopg import sql

from include.pgferry.model import Plan, Relation
from include.pgferry.pg.ddl import DdlError


def to_refresh(plan: Plan) -> list[Relation]:
    """The migrated materialized views that have rows on the source (one left WITH NO DATA stays so)."""
    return [r for r in plan.relations if r.relkind == "m" and r.populated]


def refresh(conn: psycopg.Connection, matviews: list[Relation]):
    """REFRESH each; one built on another that is not populated yet waits for the next round, until a
    round makes no progress."""
    pending = list(matviews)
    for _ in range(len(pending) + 1):
        failed = []
        for m in pending:
            try:
                conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(m.target.identifier))
            except psycopg.errors.ObjectNotInPrerequisiteState:
                failed.append(m)
        if not failed or len(failed) == len(pending):
            pending = failed
            break
        pending = failed
    if pending:
        raise DdlError(f"could not refresh {', '.join(str(m.target) for m in pending)}")
