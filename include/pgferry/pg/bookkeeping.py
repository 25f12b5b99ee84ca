"""pgferry's own bookkeeping tables on a server (the copy lanes' list and block records): made when first
needed, by any number of sessions at once."""
from __future__ import annotations

import psycopg
from psycopg import errors, sql


def create_tables(conn: psycopg.Connection, schema: str, tables: list[sql.Composable], denied: str):
    """`schema` and each `CREATE TABLE IF NOT EXISTS` statement of `tables`, in one transaction; idempotent,
    and safe when sessions make them at once (one may lose the race for the catalog's unique names: it then
    finds what the other made). A permission error gets the note `denied` (what to grant)."""
    for attempt in range(3):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                for statement in tables:
                    conn.execute(statement)
            return
        except (errors.UniqueViolation, errors.DuplicateSchema, errors.DuplicateTable, errors.DuplicateObject):
            if attempt == 2:
                raise
        except errors.InsufficientPrivilege as e:
            e.add_note(denied)
            raise
