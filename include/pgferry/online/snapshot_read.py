"""Reading the source under the run's exported snapshot: the hook the copy lanes take in online mode.

`under_snapshot(conn, snapshot)` wraps one unit's reads on an autocommit source session in a REPEATABLE
READ transaction that imported the snapshot (online/slot.py), and ends it afterwards; with no snapshot
(the offline DAG) it does nothing. Each unit imports it afresh, so a retried lane reads the same data as
its first try did, as long as the holder lives; once it is gone the unit fails saying to clear the load.
"""
from __future__ import annotations

from contextlib import contextmanager

import psycopg

from include.pgferry.online.slot import import_snapshot


@contextmanager
def under_snapshot(conn: psycopg.Connection, snapshot: str | None):
    if not snapshot:
        yield
        return
    import_snapshot(conn, snapshot)
    try:
        yield
    except BaseException:
        # the unit's own error is the one to report; a session it broke or closed has no transaction left
        if not conn.closed and not conn.broken:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                pass
        raise
    conn.execute("COMMIT")
