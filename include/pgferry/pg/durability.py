"""A durability barrier: it returns once every commit the server has made so far, by any session, is on disk.

pgferry's loading sessions commit with synchronous_commit = off: a unit lost in a crash while its lane runs is
loaded again by the lane's retry. Once a task has reported success, though, nothing repeats its work: a target
that crashes a moment later (immediate shutdown, power loss) could lose commits the run already counts as done.
One synchronous commit at the task's end flushes the WAL up to it, and so every earlier commit with it.
"""
from __future__ import annotations

import psycopg


def flush_commits(conn: psycopg.Connection) -> None:
    """A transaction that writes a WAL record (a logical message, callable by any user and ignored by anyone
    not decoding it) and commits synchronously. The connection must be in autocommit mode."""
    with conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = on")
        conn.execute("SELECT pg_logical_emit_message(true, 'pgferry', 'durable')")
