"""Index and constraint builds right after a table's load, inside the copy lane that loaded it.

A table cut into key ranges is loaded by several lanes; the lane that finishes the last range builds
its indexes. Lanes find out who is last through session advisory locks on the target: each lane holds
a shared lock on the table while it has ranges of it to load, and after its last range releases it
and tries the exclusive lock, which only the last lane still loading can get. If a lane starts its
ranges late (fewer Airflow slots than lanes), indexes may be built early and the late ranges load into
indexed tables: slower, never wrong.
"""
from __future__ import annotations

import time

import psycopg

from include.pgferry.schema.rewrite import statement_identity

LOCK_CLASS = 0x70676672   # 'pgfr': the first key of pgferry's advisory locks


def _key(table: tuple) -> tuple:
    return (LOCK_CLASS, f"{table[0]}.{table[1]}")


def announce_part_loading(conn: psycopg.Connection, table: tuple):
    conn.execute("SELECT pg_advisory_lock_shared(%s, hashtext(%s))", _key(table))


def last_part_loaded(conn: psycopg.Connection, table: tuple) -> bool:
    conn.execute("SELECT pg_advisory_unlock_shared(%s, hashtext(%s))", _key(table))
    got = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", _key(table)).fetchone()[0]
    if got:
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", _key(table))
    return got


def exists(conn: psycopg.Connection, identity: tuple) -> bool:
    kind, schema, table, name = identity
    if kind == "index":
        q = ("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname = %s AND c.relname = %s", (schema, name))
    elif kind == "trigger":
        q = ("SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n "
             "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND t.tgname = %s",
             (schema, table, name))
    else:
        q = ("SELECT 1 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n "
             "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND k.conname = %s",
             (schema, table, name))
    return conn.execute(*q).fetchone() is not None


def build(conn: psycopg.Connection, statements: list[str], session: dict) -> float:
    """Run the builds that do not exist yet (a retried lane skips what its first try built)."""
    t0 = time.monotonic()
    for k, v in session.items():
        conn.execute("SELECT set_config(%s, %s, false)", (k, v))
    for s in statements:
        ident = statement_identity(s)
        if ident and exists(conn, ident):
            continue
        conn.execute(s)
    return time.monotonic() - t0
