"""Reads the catalog through the standalone queries in `sql/`, one file per read, named verb_object.sql.

Each file runs as-is in psql: its parameters are psql variables (`:'schemas'`, set with `\set`), which
`sql_text` turns into psycopg's named placeholders, so the file is the one text both run.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from include.pgferry.pg.dependencies import DependencyGraph

SQL_DIR = Path(__file__).parents[1] / "sql"


_PSQL_VARIABLE = re.compile(r"(?<!:):'(\w+)'")


@cache
def sql_text(name: str) -> str:
    """sql/<name>.sql with its psql variables as psycopg placeholders (`:'x'` -> `%(x)s`)."""
    return _PSQL_VARIABLE.sub(r"%(\1)s", (SQL_DIR / f"{name}.sql").read_text())


def fetch(conn: psycopg.Connection, query: str, /, **params) -> list[dict]:
    """Run sql/<query>.sql with its variables given by keyword; its rows as dicts."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(query), params or None)
        return cur.fetchall()


def fetch_one(conn: psycopg.Connection, query: str, /, **params) -> dict | None:
    rows = fetch(conn, query, **params)
    return rows[0] if rows else None


def exists(conn: psycopg.Connection, identity: tuple) -> bool:
    """Does the index, constraint (foreign key included) or trigger (kind, schema, table, name) exist?"""
    kind, schema, table, name = identity
    if kind == "index":
        return fetch_one(conn, "find_index", schema=schema, name=name) is not None
    if kind == "trigger":
        return fetch_one(conn, "find_trigger", schema=schema, table=table, name=name) is not None
    return fetch_one(conn, "find_constraint", schema=schema, table=table, name=name) is not None


def existing_schemas(conn: psycopg.Connection, schemas) -> set[str]:
    return {r["schema"] for r in fetch(conn, "list_existing_schemas", schemas=sorted(set(schemas)))}


def setting_names(conn: psycopg.Connection) -> frozenset[str]:
    return frozenset(r["name"] for r in fetch(conn, "list_setting_names"))


def enabled_triggers(conn: psycopg.Connection) -> dict[tuple[str, str], list[dict]]:
    """(schema, table) -> its triggers that fire (foreign keys' internal ones included)."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in fetch(conn, "list_enabled_triggers"):
        out.setdefault((r["schema"], r["table"]), []).append(r)
    return out


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


CATALOG_READS = ("schemas", "relations", "columns", "sequences", "foreign_keys", "functions", "dependencies",
                 "object_dependencies")
_QUERY_OF = {"dependencies": "list_relation_dependencies"}


class SourceCatalog:
    """Everything pgferry needs to know about the source database, read once."""

    def __init__(self, conn: psycopg.Connection):
        self._index(conn.info.server_version,
                    {k: fetch(conn, _QUERY_OF.get(k, f"list_{k}")) for k in CATALOG_READS})

    @classmethod
    def from_rows(cls, version_num: int, **rows) -> SourceCatalog:
        """A catalog from rows as the sql/ files return them (what is not given is empty)."""
        cat = cls.__new__(cls)
        cat._index(version_num, {k: list(rows.get(k, [])) for k in CATALOG_READS})
        return cat

    def _index(self, version_num: int, rows: dict):
        self.version_num = version_num
        for k in CATALOG_READS:
            setattr(self, k, rows[k])
        self.by_oid = {r["oid"]: r for r in self.relations}
        self.by_name = {(r["schema"], r["name"]): r for r in self.relations}
        self.columns_of: dict[int, list[dict]] = {}
        for c in self.columns:
            self.columns_of.setdefault(c["table_oid"], []).append(c)
        self.graph = DependencyGraph(self.object_dependencies)
