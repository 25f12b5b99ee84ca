"""Bounded lock waits: a session that waits longer than `lock_timeout` says which table and whose lock.

PostgreSQL's own message for a lock timeout names neither ("canceling statement due to lock timeout"). So
a load takes its table locks with an explicit LOCK TABLE, one table at a time, under the session's
lock_timeout; when one times out, the sessions holding (or waiting for) a lock on that table in a
conflicting mode are read from pg_locks and named in LockWaitTimeout. The caller says whose locks are
waited for again (`waits_for`: a copy lane's running sibling lanes and their index builds, found by
application_name, which end by their own bounds); anyone else's lock fails the wait.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import psycopg
from psycopg import errors, pq, sql

from include.pgferry.model import QualifiedName
from include.pgferry.pg import session_names
from include.pgferry.pg.catalog import fetch

log = logging.getLogger("pgferry")

LOCK_TIMEOUT_S = 180        # Param lock_timeout_s

# PostgreSQL's table lock modes (LOCK TABLE spelling -> pg_locks.mode) and which modes each conflicts with
MODES = {"ACCESS SHARE": "AccessShareLock", "ROW SHARE": "RowShareLock", "ROW EXCLUSIVE": "RowExclusiveLock",
         "SHARE UPDATE EXCLUSIVE": "ShareUpdateExclusiveLock", "SHARE": "ShareLock",
         "SHARE ROW EXCLUSIVE": "ShareRowExclusiveLock", "EXCLUSIVE": "ExclusiveLock",
         "ACCESS EXCLUSIVE": "AccessExclusiveLock"}
_ORDER = list(MODES.values())
_CONFLICTS_FROM = {   # mode -> the modes it conflicts with, as indexes into _ORDER (weakest first)
    "AccessShareLock": {7}, "RowShareLock": {6, 7}, "RowExclusiveLock": {4, 5, 6, 7},
    "ShareUpdateExclusiveLock": {3, 4, 5, 6, 7}, "ShareLock": {2, 3, 5, 6, 7},
    "ShareRowExclusiveLock": {2, 3, 4, 5, 6, 7}, "ExclusiveLock": {1, 2, 3, 4, 5, 6, 7},
    "AccessExclusiveLock": {0, 1, 2, 3, 4, 5, 6, 7}}


def conflicts(mode: str, other: str) -> bool:
    """Do two pg_locks modes conflict (PostgreSQL's table-level lock conflict table)?"""
    return _ORDER.index(other) in _CONFLICTS_FROM[mode]


class LockWaitTimeout(RuntimeError):
    """A lock on a table did not come within lock_timeout; whoever holds it is named. Retried: the holder
    may finish meanwhile (failures.py retries it like the server's lock timeout it wraps)."""


@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    mode: str
    granted: bool
    user: str | None
    application_name: str | None
    state: str | None
    state_seconds: float | None
    query: str | None

    @property
    def session(self) -> session_names.SessionName | None:
        """Which pgferry task and try this session belongs to (None: not a named pgferry session)."""
        return session_names.parse(self.application_name)

    def describe(self) -> str:
        if self.pid is None:
            return f"a prepared transaction ({self.mode})"
        how = "holds" if self.granted else "waits for"
        state = self.state or "state not visible to this user"
        if self.state_seconds is not None:
            state += f" for {self.state_seconds:.0f} s"
        return (f"pid {self.pid} ({self.user or '?'}, application {self.application_name or 'none'!r}, {state}) "
                f"{how} {self.mode}")


def set_lock_timeout(conn: psycopg.Connection, seconds: float):
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(seconds * 1000)}ms",))


def lock_holders(conn: psycopg.Connection, table: QualifiedName, mode: str) -> list[LockHolder]:
    """Other sessions that hold, or wait ahead for, a lock on `table` conflicting with `mode` (pg_locks)."""
    rows = fetch(conn, "list_lock_holders", schema=table.schema, table=table.name)
    return [LockHolder(r["pid"], r["mode"], r["granted"], r["user"], r["application_name"], r["state"],
                       r["state_seconds"], r["query"]) for r in rows if conflicts(mode, r["mode"])]


WaitsFor = Callable[[LockHolder], bool]


def lock_table(conn: psycopg.Connection, table: QualifiedName, mode: str, timeout_s: float,
               waits_for: WaitsFor | None = None, still_in_bounds: Callable[[], None] = lambda: None):
    """LOCK TABLE ONLY `table` IN `mode` MODE, inside the open transaction (see `bounded`)."""
    if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
        raise RuntimeError("lock_table must run inside a transaction: the lock lasts until it ends")
    stmt = sql.SQL("LOCK TABLE ONLY {} IN {} MODE").format(table.identifier, sql.SQL(mode))
    bounded(conn, table, mode, lambda: conn.execute(stmt), timeout_s, waits_for, still_in_bounds)


def bounded(conn: psycopg.Connection, table: QualifiedName, mode: str, action: Callable[[], object],
            timeout_s: float, waits_for: WaitsFor | None = None, still_in_bounds: Callable[[], None] = lambda: None):
    """Run `action` (a statement that takes a `mode` lock on `table`) under the session's lock_timeout
    (`timeout_s`, for the message). Inside a transaction it runs in a savepoint, so a timeout leaves the
    transaction usable. It is run again while `waits_for` accepts every holder of a conflicting lock, with
    `still_in_bounds` (the lane's deadline) looked at between waits; any other holder raises
    LockWaitTimeout naming them all."""
    while True:
        try:
            if conn.info.transaction_status == pq.TransactionStatus.INTRANS:
                with conn.transaction():
                    action()
            else:
                action()
            return
        except errors.LockNotAvailable as e:
            holders = lock_holders(conn, table, MODES[mode])
            if waits_for is not None and holders and all(waits_for(h) for h in holders):
                log.info("waiting again for a %s lock on %s, held by this run's own session(s): %s", mode, table,
                         "; ".join(h.describe() for h in holders))
                still_in_bounds()
                continue
            raise LockWaitTimeout(describe_timeout(table, mode, timeout_s, holders)) from e


def describe_timeout(table: QualifiedName, mode: str | None, timeout_s: float, holders: list[LockHolder]) -> str:
    """The message of a lock wait past lock_timeout: on `table` in `mode` (None: a row of it, or an object it
    uses), and who holds or waits for a conflicting lock."""
    what = f"a lock on {table} ({mode} mode)" if mode else f"a lock on a row of {table} or on an object it uses"
    who = "; ".join(h.describe() for h in holders) if holders else \
        "no session holds a conflicting lock any more (it was released just after the timeout)"
    return (f"waited more than {timeout_s:g} s (Param lock_timeout_s) for {what}: {who}. "
            f"End that session (SELECT pg_terminate_backend(pid)) or let it finish; the task is retried")
