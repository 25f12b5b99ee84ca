"""The cutover's freeze of the source and its undoing (the abort path).

Two modes (the approval's `freeze_mode`):
- "stopped": the operator has stopped the application; pgferry only checks that no other session holds an
  open write transaction, and records the point.
- "read_only": pgferry makes the database read-only for new sessions (`ALTER DATABASE ... SET
  default_transaction_read_only = on`), then ends every other client session of it but its own, so the
  application reconnects read-only. A session can still ask for READ WRITE explicitly: this stops an
  application, not a determined user.

The freeze LSN is the WAL insert position once no write can be in flight: every commit so far lies
before it (online/follow.py says why not pg_current_wal_lsn). The write counters recorded with it let
validate prove afterwards that nothing was written since.
"""
from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from include.pgferry.logical.comparison import write_counters
from include.pgferry.model import Plan
from include.pgferry.online import pgoutput as po
from include.pgferry.online.follow import current_lsn
from include.pgferry.pg.catalog import fetch

STOPPED, READ_ONLY = "stopped", "read_only"
FREEZE_MODES = (STOPPED, READ_ONLY)


class FreezeError(RuntimeError):
    pass


def _database(source: psycopg.Connection) -> sql.Identifier:
    return sql.Identifier(source.info.dbname)


def freeze(source: psycopg.Connection, plan: Plan, mode: str, clock: Callable[[], float]) -> dict:
    if mode not in FREEZE_MODES:
        raise FreezeError(f"freeze_mode {mode!r}: choose one of {', '.join(FREEZE_MODES)}")
    ended = []
    if mode == READ_ONLY:
        source.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(_database(source)))
        for s in fetch(source, "list_client_sessions"):
            source.execute("SELECT pg_terminate_backend(%s)", (s["pid"],))
            ended.append(f"{s['pid']} ({s['user']}, {s['application_name'] or 'no application name'})")
    writers = fetch(source, "list_write_sessions")
    if writers:
        shown = ", ".join(f"pid {w['pid']} ({w['user']}, {w['application_name'] or 'no application name'})"
                          for w in writers)
        raise FreezeError(f"the source is not frozen: {shown} still hold(s) a write transaction; stop the "
                          f"application (or choose freeze_mode read_only) and approve again")
    lsn = current_lsn(source)
    return {"freeze_lsn": po.lsn_text(lsn), "mode": mode, "frozen_at": clock(), "ended_sessions": ended,
            "write_counters": write_counters(source, plan)}


def unfreeze(source: psycopg.Connection):
    """Writable again for new sessions (the abort path, or a failed cutover)."""
    source.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(_database(source)))
