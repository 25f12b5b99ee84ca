"""Reads the catalog through the standalone queries in `sql/` (each runnable as-is in psql)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

SQL_DIR = Path(__file__).parent / "sql"


@cache
def sql_text(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def fetch(conn: psycopg.Connection, name: str, params=None) -> list[dict]:
    """Run sql/<name>.sql and return its rows as dicts."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(name), params)
        return cur.fetchall()


def server_version_num(conn: psycopg.Connection) -> int:
    return conn.info.server_version


def major_version(version_num: int) -> int:
    """A comparable major release: 906 for 9.6.x, 1500 for 15.x (so 9.6 < 10 < 15)."""
    return version_num // 10000 * 100 if version_num >= 100000 else version_num // 100


def major_label(version_num: int) -> str:
    major = major_version(version_num)
    return f"{major // 100}.{major % 100}" if major < 1000 else str(major // 100)


def version_label(version_num: int) -> str:
    if version_num >= 100000:
        return f"{version_num // 10000}.{version_num % 10000}"
    return f"{version_num // 10000}.{version_num // 100 % 100}.{version_num % 100}"


class SourceCatalog:
    """Everything pgferry needs to know about the source database, read once."""

    def __init__(self, conn: psycopg.Connection):
        self.version_num = server_version_num(conn)
        self.schemas = fetch(conn, "list_schemas")
        self.relations = fetch(conn, "list_relations")
        self.columns = fetch(conn, "list_columns")
        self.sequences = fetch(conn, "list_sequences")
        self.foreign_keys = fetch(conn, "list_foreign_keys")
        self.functions = fetch(conn, "list_functions")
        self.dependencies = fetch(conn, "list_relation_dependencies")
        self.extension_deps = fetch(conn, "list_extension_dependencies")
        self.by_oid = {r["oid"]: r for r in self.relations}
        self.by_name = {(r["schema"], r["name"]): r for r in self.relations}
        self.columns_of: dict[int, list[dict]] = {}
        for c in self.columns:
            self.columns_of.setdefault(c["table_oid"], []).append(c)
