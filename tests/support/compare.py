"""Exactness harness: two databases compared object by object, independently of pgferry's own validate.

What is compared, and how:
- schema: `pg_dump --schema-only` of both, cut into pg_dump's own blocks (the `-- Name: ...; Type: ...;
  Schema: ...` headers) and compared block by block, so a difference names its object and the order
  pg_dump happens to emit objects in (OIDs differ between clusters) does not matter;
- every table's rows (ordinary tables, partitions, materialized views; each `FROM ONLY` itself): a row
  count and an order-independent sum of 64-bit row hashes, the row written as text with the source's
  column names in the source's order, so the values compare even where the target's column order
  differs; that order is compared on its own (pg_dump's CREATE TABLE does not list inherited columns, so
  the schema dump alone would not show it); output settings pinned on both sessions so the text form is the same;
- every sequence's last_value and is_called;
- large objects: owner, ACL and an md5 of the content.
Every connection has a connect timeout and every statement a statement_timeout; every pg_dump a timeout.
"""
from __future__ import annotations

import difflib
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 300_000
PG_DUMP_TIMEOUT_S = 600
SAMPLE_ROWS = 5          # rows shown per side when a table's content differs
SAMPLE_MAX_TABLE_ROWS = 200_000  # only tables this small are read whole to show the differing rows

# Text output of values depends on these settings: the same on both sides, whatever the servers' defaults.
SESSION_SETTINGS = {
    "DateStyle": "ISO, YMD", "IntervalStyle": "postgres", "TimeZone": "UTC", "extra_float_digits": "3",
    "bytea_output": "hex", "lc_monetary": "C", "search_path": "pg_catalog",
    "statement_timeout": str(STATEMENT_TIMEOUT_MS),
}

USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' " \
               "AND n.nspname NOT LIKE 'pg\\_temp\\_%'"

_HEADER = re.compile(r"^-- (?:Data for )?Name: (?P<name>.*); Type: (?P<type>[^;]*); Schema: (?P<schema>[^;]*);"
                     r" Owner: (?P<owner>.*)$")


@dataclass(frozen=True)
class Difference:
    kind: str    # schema | table | sequence | large object
    name: str    # the object: "TABLE public.b_star", "public.tenk1", "lo 16391"
    detail: str  # what differs, readable

    def __str__(self):
        return f"{self.kind} {self.name}: {self.detail}"


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)
    schema_objects: int = 0
    tables: int = 0
    rows: int = 0
    sequences: int = 0
    large_objects: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences

    def names(self, kind: str | None = None) -> set[str]:
        return {d.name for d in self.differences if kind is None or d.kind == kind}

    def text(self) -> str:
        head = (f"{self.schema_objects} schema objects, {self.tables} tables ({self.rows} rows), "
                f"{self.sequences} sequences, {self.large_objects} large objects compared: ")
        if self.ok:
            return head + "no difference"
        return head + f"{len(self.differences)} differences\n" + "\n".join(f"- {d}" for d in self.differences)


# -- connections -------------------------------------------------------------------------------------------
def connect(dsn: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    for name, value in SESSION_SETTINGS.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
    return conn


# -- schema ------------------------------------------------------------------------------------------------
def schema_dump(dsn: str, pg_bindir: Path, *extra_args: str) -> str:
    return subprocess.run([str(Path(pg_bindir) / "pg_dump"), "--schema-only", "-d", dsn, *extra_args],
                          capture_output=True, text=True, check=True, timeout=PG_DUMP_TIMEOUT_S).stdout


def schema_blocks(dump: str) -> dict[str, list[str]]:
    """pg_dump's text cut at its object headers: {"TYPE schema.name": lines}. Lines that differ between any
    two dumps (psql's per-dump \\restrict keys, the version banner) and blank lines are left out."""
    blocks: dict[str, list[str]] = {}
    key = "(preamble)"
    blocks[key] = []
    for line in dump.splitlines():
        m = _HEADER.match(line)
        if m:
            base = f"{m['type']} {'' if m['schema'] == '-' else m['schema'] + '.'}{m['name']}"
            key, n = base, 1
            while key in blocks:  # pg_dump repeats a header only for distinct objects: number them
                n += 1
                key = f"{base} #{n}"
            blocks[key] = []
        if (not line.strip() or line.startswith("\\restrict") or line.startswith("\\unrestrict")
                or line.startswith("-- Dumped ") or line == "--" or line == "-- PostgreSQL database dump complete"):
            continue
        blocks[key].append(line)
    return blocks


def compare_schema(source_dump: str, target_dump: str) -> tuple[int, list[Difference]]:
    src, tgt = schema_blocks(source_dump), schema_blocks(target_dump)
    diffs = []
    for key in sorted(src.keys() | tgt.keys()):
        if key not in tgt:
            diffs.append(Difference("schema", key, "missing in target"))
        elif key not in src:
            diffs.append(Difference("schema", key, "only in target"))
        elif src[key] != tgt[key]:
            delta = [l for l in list(difflib.unified_diff(src[key], tgt[key], n=0, lineterm=""))[2:]
                     if not l.startswith("@@")]  # [2:]: the ---/+++ file header
            diffs.append(Difference("schema", key, "differs: " + " | ".join(delta[:8])
                                    + (f" | ... ({len(delta) - 8} more lines)" if len(delta) > 8 else "")))
    return len(src) - 1, diffs


# -- rows --------------------------------------------------------------------------------------------------
_TABLES = f"""
SELECT n.nspname, c.relname,
       coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{{}}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't' AND {USER_SCHEMAS}
  AND (c.relkind <> 'm' OR c.relispopulated)
ORDER BY 1, 2"""


def tables(conn) -> dict[tuple[str, str], list[str]]:
    return {(s, t): cols for s, t, cols in conn.execute(_TABLES).fetchall()}


def _row_text(columns: list[str]) -> sql.Composable:
    if not columns:
        return sql.SQL("''")
    return sql.SQL("ROW({})::text").format(sql.SQL(", ").join(sql.Identifier(c) for c in columns))


def table_digest(conn, schema: str, table: str, columns: list[str]) -> tuple[int, int]:
    """(row count, sum of each row's 64-bit md5 prefix): equal multisets of rows give equal digests."""
    q = sql.SQL("SELECT count(*), coalesce(sum(('x' || left(md5({row}), 16))::bit(64)::bigint::numeric), 0)"
                " FROM ONLY {tbl}").format(row=_row_text(columns), tbl=sql.Identifier(schema, table))
    count, total = conn.execute(q).fetchone()
    return count, int(total)


def _row_texts(conn, schema, table, columns) -> list[str]:
    q = sql.SQL("SELECT {row} FROM ONLY {tbl}").format(row=_row_text(columns), tbl=sql.Identifier(schema, table))
    return [r[0] for r in conn.execute(q).fetchall()]


def _sample_rows(src, tgt, schema, table, columns) -> str:
    from collections import Counter
    a, b = Counter(_row_texts(src, schema, table, columns)), Counter(_row_texts(tgt, schema, table, columns))
    only_src, only_tgt = list((a - b).elements()), list((b - a).elements())
    return (f"rows only in source {only_src[:SAMPLE_ROWS]}{' ...' if len(only_src) > SAMPLE_ROWS else ''}; "
            f"rows only in target {only_tgt[:SAMPLE_ROWS]}{' ...' if len(only_tgt) > SAMPLE_ROWS else ''}")


def compare_rows(src, tgt) -> tuple[int, int, list[Difference]]:
    src_tables, tgt_tables = tables(src), tables(tgt)
    diffs, rows = [], 0
    for key in sorted(src_tables.keys() | tgt_tables.keys()):
        name = f"{key[0]}.{key[1]}"
        if key not in tgt_tables:
            diffs.append(Difference("table", name, "missing in target"))
            continue
        if key not in src_tables:
            diffs.append(Difference("table", name, "only in target"))
            continue
        cols = src_tables[key]
        if sorted(cols) != sorted(tgt_tables[key]):
            diffs.append(Difference("table", name, f"columns differ: source {cols}, target {tgt_tables[key]}"))
            continue
        if cols != tgt_tables[key]:  # SELECT * and COPY without a column list see another order
            diffs.append(Difference("table", name, f"column order differs: source {cols}, target {tgt_tables[key]}"))
        (n_src, h_src), (n_tgt, h_tgt) = table_digest(src, *key, cols), table_digest(tgt, *key, cols)
        rows += n_src
        if n_src != n_tgt:
            detail = f"{n_src} rows in source, {n_tgt} in target"
        elif h_src != h_tgt:
            detail = f"same {n_src} rows counted, content differs"
        else:
            continue
        if max(n_src, n_tgt) <= SAMPLE_MAX_TABLE_ROWS:
            detail += "; " + _sample_rows(src, tgt, *key, cols)
        diffs.append(Difference("table", name, detail))
    return len(src_tables), rows, diffs


# -- sequences ---------------------------------------------------------------------------------------------
_SEQUENCES = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND c.relpersistence <> 't' AND {USER_SCHEMAS} ORDER BY 1, 2"""


def sequence_states(conn) -> dict[str, tuple[int, bool]]:
    out = {}
    for schema, name in conn.execute(_SEQUENCES).fetchall():
        q = sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(schema, name))
        out[f"{schema}.{name}"] = tuple(conn.execute(q).fetchone())
    return out


def compare_sequences(src, tgt) -> tuple[int, list[Difference]]:
    a, b = sequence_states(src), sequence_states(tgt)
    diffs = []
    for name in sorted(a.keys() | b.keys()):
        if name not in b:
            diffs.append(Difference("sequence", name, "missing in target"))
        elif name not in a:
            diffs.append(Difference("sequence", name, "only in target"))
        elif a[name] != b[name]:
            diffs.append(Difference("sequence", name, f"(last_value, is_called) source {a[name]}, target {b[name]}"))
    return len(a), diffs


# -- large objects -----------------------------------------------------------------------------------------
_LARGE_OBJECTS = """
SELECT m.oid::bigint, pg_get_userbyid(m.lomowner)::text, m.lomacl::text,
       md5(coalesce((SELECT string_agg(p.data, ''::bytea ORDER BY p.pageno) FROM pg_largeobject p
                     WHERE p.loid = m.oid), ''::bytea))
FROM pg_largeobject_metadata m ORDER BY 1"""


def large_objects(conn) -> dict[int, tuple]:
    return {oid: rest for oid, *rest in conn.execute(_LARGE_OBJECTS).fetchall()}


def compare_large_objects(src, tgt) -> tuple[int, list[Difference]]:
    a, b = large_objects(src), large_objects(tgt)
    diffs = []
    for oid in sorted(a.keys() | b.keys()):
        if oid not in b:
            diffs.append(Difference("large object", str(oid), "missing in target"))
        elif oid not in a:
            diffs.append(Difference("large object", str(oid), "only in target"))
        elif a[oid] != b[oid]:
            what = [f"{label} {x!r} -> {y!r}" for label, x, y in zip(("owner", "acl", "md5"), a[oid], b[oid])
                    if x != y]
            diffs.append(Difference("large object", str(oid), "; ".join(what)))
    return len(a), diffs


# -- all together ------------------------------------------------------------------------------------------
def compare_databases(source_dsn: str, target_dsn: str, pg_bindir: Path, *, schema: bool = True) -> Comparison:
    """Everything above, source against target; the result lists every difference found."""
    result = Comparison()
    if schema:
        result.schema_objects, diffs = compare_schema(schema_dump(source_dsn, pg_bindir),
                                                      schema_dump(target_dsn, pg_bindir))
        result.differences += diffs
    with connect(source_dsn) as src, connect(target_dsn) as tgt:
        result.tables, result.rows, diffs = compare_rows(src, tgt)
        result.differences += diffs
        result.sequences, diffs = compare_sequences(src, tgt)
        result.differences += diffs
        result.large_objects, diffs = compare_large_objects(src, tgt)
        result.differences += diffs
    return result
