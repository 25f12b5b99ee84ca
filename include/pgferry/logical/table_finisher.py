"""Index and constraint builds, and ANALYZE, right after a table's load, by the copy lane that loaded it.

The lane hands a loaded table to its own finisher: one more target session, in a thread of the lane's
task, that builds the table's indexes and constraints and analyzes it while the lane goes on copying
the next table (as pgcopydb's index jobs do). The statistics are there before foreign keys are
validated, so their check queries get good plans, and finalize has nothing left to analyze.

A table cut into ranges is loaded by several lanes; the lane whose unit completes it (no unit of the table
left undone in the run's list, logical/claims.py) builds its indexes, whichever lane that is.

The finisher's session has the lane's lock_timeout: a build that waits past it on anyone but this run's
own sessions fails, naming the table and who holds the lock (pg/locks.py).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg
from psycopg import sql

from include.pgferry.model import INDEX, DdlStatement, QualifiedName
from include.pgferry.pg import locks
from include.pgferry.pg.catalog import exists
from include.pgferry.pg.endpoint import PgEndpoint, apply_settings

log = logging.getLogger("pgferry")


def build(conn: psycopg.Connection, statements: list[DdlStatement], session: dict, table: QualifiedName | None = None,
          lock_timeout_s: float = locks.LOCK_TIMEOUT_S, waits_for: locks.WaitsFor | None = None) -> float:
    """Run the builds that do not exist yet (a retried lane skips what its first try built); with `table`,
    each under the bounded lock wait of pg/locks.py (CREATE INDEX takes SHARE, ALTER TABLE more)."""
    t0 = time.monotonic()
    apply_settings(conn, session)
    for s in statements:
        if s.identity and exists(conn, s.identity):
            continue
        if table is None:
            conn.execute(s.sql)
            continue
        mode = "SHARE" if s.kind == INDEX else "ACCESS EXCLUSIVE"
        locks.bounded(conn, table, mode, lambda stmt=s.sql: conn.execute(stmt), lock_timeout_s, waits_for)
    return time.monotonic() - t0


class TargetLost(RuntimeError):
    """A table not finished because the finisher had lost the target on an earlier one (retried)."""


class TableFinisher:
    """Builds indexes and constraints, then ANALYZEs, each table handed over, one table at a time on its
    own target session, in a background thread; `wait` returns when all are done and re-raises the first
    failure. Leaving the `with` block early (the lane failed) drops what has not started.

    A lost target costs `wait` one bound, not one per table: a build on a session that ends fails at once
    (the dead-peer bound of pg/endpoint.py when the peer goes silent), the tables after it find the session
    broken and fail at once, and once the session cannot be opened (the connect timeout) the tables after
    are not tried."""

    def __init__(self, target: PgEndpoint, session: dict, lock_timeout_s: float = locks.LOCK_TIMEOUT_S,
                 waits_for: locks.WaitsFor | None = None):
        self._target, self._session = target, session
        self._lock_timeout_s, self._waits_for = lock_timeout_s, waits_for
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="pgferry-finisher")
        self._conn: psycopg.Connection | None = None
        self._futures: list[Future] = []
        self._lost: str | None = None       # the session could not be opened: the tables after are not tried

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._conn is not None:
            self._conn.close()

    def submit(self, table: QualifiedName, statements: list[DdlStatement], result: dict):
        """Finish `table` (target schema, name); timings go into `result` (the unit's result dict)."""
        self._futures.append(self._pool.submit(self._finish, table, statements, result))

    def wait(self):
        for f in self._futures:
            f.result()

    def _finish(self, table: QualifiedName, statements: list[DdlStatement], result: dict):
        if self._lost is not None:
            raise TargetLost(f"{table} not finished: the finisher could not connect to the target before "
                             f"({self._lost})")
        if self._conn is None:
            try:
                self._conn = self._target.connect(autocommit=True, application_name="pgferry index build")
            except psycopg.OperationalError as e:
                self._lost = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise
            locks.set_lock_timeout(self._conn, self._lock_timeout_s)
        if statements:
            result["index_seconds"] = round(build(self._conn, statements, self._session, table,
                                                  self._lock_timeout_s, self._waits_for), 3)
            log.info("built %d index(es)/constraint(s) of %s in %.1f s", len(statements), table,
                     result["index_seconds"])
        t0 = time.monotonic()
        locks.bounded(self._conn, table, "SHARE UPDATE EXCLUSIVE",
                      lambda: self._conn.execute(sql.SQL("ANALYZE {}").format(table.identifier)),
                      self._lock_timeout_s, self._waits_for)
        result["analyze_seconds"] = round(time.monotonic() - t0, 3)
