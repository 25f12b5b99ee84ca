"""Source-against-target checks: rows and content per table, sequences, objects by kind, write freeze.

Content checksum: an order-independent sum of a 64-bit hash of each row over the migrated columns,
computed in SQL on each side at the same time (each table read once per side; nothing row by row in
Python). Both sessions render values the same way (UTC, ISO dates, extra_float_digits=3).

The hash, by what both servers have:
- "columns" (PostgreSQL 14+): each column hashed by its type's own 64-bit hash without rendering it as
  text, under a seed of its own (its position), and the column hashes combined with XOR. Integers, text
  under the "C" collation, uuid, time, timestamp and jsonb are hashed by their type's function directly
  (cast to the source's type first, every integer as int8);
  the other columns together go through hash_record_extended and then through a 64-bit hash again. Only
  types whose hash tells apart every value a copy could change go in as they are (those, and bytea, "char",
  name, date, timestamptz, boolean in the record); the others are rendered as text first: numeric and
  floats (1.0 and 1.00, 0 and -0 hash alike), interval ('1 day' and '24 hours'), arrays (the hash ignores
  dimensions), enums (their hash is their OID, which differs between databases), domains and every type
  without a hash function. A NULL column counts as a constant of its own position.
- "record" (PostgreSQL 14+, chosen by runs prechecked before "columns"): hash_record_extended over the row
  alone. Its combination of the column hashes is linear (31 * h + next), so the table's sum misses most
  exchanges of one column's values between two rows (the sum moves by 2^64 or not at all); "columns" mixes
  nonlinearly, and costs about a quarter less CPU (docs/benchmarks.md).
- "hashtextextended" (PostgreSQL 11+): the row's text, hashed by the stable hash behind hash partitioning.
- "md5": 64 bits of md5 of the row's text.
jsonb is compared as PostgreSQL compares it (its stored form is already normalised; a number inside it
hashes by value, so 1.0 and 1.00 in a jsonb document count as equal).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from include.pgferry.model import PG_CLASS, Plan, QualifiedName, SchemaMove, Sequence
from include.pgferry.pg.catalog import fetch
from include.pgferry.pg.client_tools import ClientTools
from include.pgferry.pg.dumped_data import DumpedData, dumped_data
from include.pgferry.pg.endpoint import PgEndpoint
from include.pgferry.pg.names import parse_bare_name, parse_rename_key
from include.pgferry.pg.parallel import run_longest_first


HASHTEXTEXTENDED_SINCE = 110000
HASH_RECORD_SINCE = 140000
ROW_HASHES = {
    "record": "hash_record_extended(ROW({row}), 0)",
    "hashtextextended": "hashtextextended(ROW({row})::text, 0)",
    "md5": "('x' || substr(md5(ROW({row})::text), 1, 16))::bit(64)::bigint",
}
# built-in types (pg_type OIDs, fixed since PostgreSQL 7) whose own hash is exact for copied values
EXACT_HASH_TYPES = {16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2", 23: "int4", 26: "oid",
                    1082: "date", 1083: "time", 1114: "timestamp", 1184: "timestamptz", 2950: "uuid", 3802: "jsonb"}
TEXT_TYPES = {25: "text", 1042: "bpchar", 1043: "varchar"}   # hashed under "C": a column's collation may not be
# "columns": the types hashed by their own function directly (cheaper than through a record), as (function,
# the type the column is cast to first: the source's, so that a target column of a wider type, as a data-only
# load may meet, is hashed as the source's values are; every integer as int8, whose hash equals int2's and
# int4's for the same value)
DIRECT_HASHES = {20: ("hashint8extended", "int8"), 21: ("hashint8extended", "int8"), 23: ("hashint8extended", "int8"),
                 26: ("hashoidextended", "oid"), 1083: ("time_hash_extended", "time"),
                 1114: ("timestamp_hash_extended", "timestamp"), 2950: ("uuid_hash_extended", "uuid"),
                 3802: ("jsonb_hash_extended", "jsonb"), 25: ("hashtextextended", "text"),
                 1043: ("hashtextextended", "text"), 1042: ("hashbpcharextended", "bpchar")}


def row_hash(source_version: int, target_version: int) -> str:
    oldest = min(source_version, target_version)
    if oldest >= HASH_RECORD_SINCE:
        return "columns"
    return "hashtextextended" if oldest >= HASHTEXTEXTENDED_SINCE else "md5"


def _hashed_column(name: str, type_oid: int | None, hash_name: str) -> sql.Composable:
    col = sql.Identifier(name)
    if hash_name not in ("record", "columns"):
        return col
    if type_oid in EXACT_HASH_TYPES:
        return col
    if type_oid in TEXT_TYPES:
        return sql.SQL('{} COLLATE "C"').format(col)
    return sql.SQL('{}::text COLLATE "C"').format(col)


def _seed(i: int) -> sql.Composed:
    return sql.SQL("{}::int8").format(sql.Literal(i))


def _columns_hash(columns: list[tuple[str, int | None]]) -> sql.Composable:
    """The "columns" row hash: XOR of each directly hashed column's hash (seeded by its position; a NULL is
    the constant -1 - position) and of the rest's record hash, mixed again (a record hash alone is linear)."""
    terms, rest = [], []
    for i, (name, type_oid) in enumerate(columns):
        if type_oid not in DIRECT_HASHES:
            rest.append(_hashed_column(name, type_oid, "columns"))
            continue
        function, cast = DIRECT_HASHES[type_oid]
        col = sql.SQL("{}::{}").format(sql.Identifier(name), sql.Identifier("pg_catalog", cast))
        if type_oid in TEXT_TYPES:
            col = sql.SQL('({} COLLATE "C")').format(col)
        terms.append(sql.SQL("coalesce({}({}, {}), {})").format(
            sql.Identifier("pg_catalog", function), col, _seed(i), _seed(-1 - i)))
    if rest or not terms:   # no column at all: the empty row's hash, as "record"
        terms.append(sql.SQL("pg_catalog.hashint8extended(pg_catalog.hash_record_extended(ROW({}), 0), {})").format(
            sql.SQL(", ").join(rest), _seed(len(columns))))
    return sql.SQL(" # ").join(terms)


def _row_hash(columns: list[tuple[str, int | None]], hash_name: str) -> sql.Composable:
    if hash_name == "columns":
        return _columns_hash(columns)
    row = sql.SQL(", ").join(_hashed_column(name, type_oid, hash_name) for name, type_oid in columns)
    return sql.SQL(ROW_HASHES[hash_name]).format(row=row)


def _where(condition: str) -> sql.Composable:
    # the filter is SQL text the extension's script registered in the source's catalog (pg_dump appends
    # it to its COPY as it is); it cannot be built from identifiers, so it goes in verbatim
    return sql.SQL(" ") + sql.SQL(condition) if condition else sql.SQL("")


def checksum_query(schema: str, table: str, columns: list[tuple[str, int | None]],
                   hash_name: str = "hashtextextended", condition: str = "") -> sql.Composed:
    """`columns`: (name on this side, source type OID); both sides hash the same expressions. `condition`:
    an extension configuration table's filter (pg_extension.extcondition, "WHERE ..."), the rows pg_dump
    dumps of it."""
    return sql.SQL("SELECT count(*), coalesce(sum({hash}), 0)::text FROM ONLY {table}{where}").format(
        hash=_row_hash(columns, hash_name), table=sql.Identifier(schema, table), where=_where(condition))


def bucket_checksum_query(schema: str, table: str, columns: list[tuple[str, int | None]], hash_name: str,
                          condition: str, key: str | None, shift: int | None) -> sql.Composed:
    """As checksum_query, by bucket: (bucket, rows, checksum) of each bucket of 2^shift consecutive values of
    the integer column `key` (rows whose key >> shift is the bucket); without a key, one bucket 0."""
    bucket = sql.SQL("({}::int8 >> {})").format(sql.Identifier(key), sql.Literal(shift)) if key else sql.SQL("0::int8")
    return sql.SQL("SELECT {bucket}, count(*), coalesce(sum({hash}), 0) FROM ONLY {table}{where} GROUP BY 1").format(
        bucket=bucket, hash=_row_hash(columns, hash_name), table=sql.Identifier(schema, table),
        where=_where(condition))


def bucket_reread_query(schema: str, table: str, columns: list[tuple[str, int | None]], hash_name: str,
                        key: str, shift: int) -> sql.Composed:
    """(bucket, rows, checksum) of the buckets given as the one parameter (an int8 array), each read by an index
    range scan of its keys (an empty bucket gives 0 rows). Not for a table compared on a filter's rows."""
    low = sql.SQL("(b.pgferry_bucket << {})").format(sql.Literal(shift))
    return sql.SQL(
        "SELECT b.pgferry_bucket, r.n, r.s FROM unnest(%s::int8[]) AS b(pgferry_bucket), LATERAL ("
        "SELECT count(*) AS n, coalesce(sum({hash}), 0) AS s FROM ONLY {table} "
        "WHERE {key} BETWEEN {low} AND {low} + ((1::int8 << {shift}) - 1)) r").format(
        hash=_row_hash(columns, hash_name), table=sql.Identifier(schema, table), key=sql.Identifier(key),
        low=low, shift=sql.Literal(shift))


def table_checksums(endpoint: PgEndpoint, jobs: list[tuple[str, sql.Composed, int]], workers: int) -> dict:
    """Run checksum queries (key, query, bytes read), biggest first, over `workers` sessions:
    {key: (rows, checksum)}."""
    def session():
        conn = endpoint.connect(autocommit=True, application_name="pgferry validate")
        # one scan per session: parallel workers would only crowd the cores the other sessions use
        conn.execute("SET max_parallel_workers_per_gather = 0")
        return conn

    def run(conn, job):
        return tuple(conn.execute(job[1]).fetchone())

    results = run_longest_first(jobs, workers, session, run, cost=lambda job: job[2])
    return {job[0]: r for job, r in zip(jobs, results)}


def compare_tables(source: PgEndpoint, target: PgEndpoint, tables: list[TableComparison] | Plan, workers: int,
                   hash_name: str) -> list[dict]:
    """Rows and content checksum of each table on both sides at once, biggest first (each table read once
    per side). `tables`: a plan (its own tables) or the comparisons scope_against_plan decided."""
    if isinstance(tables, Plan):
        tables = plan_comparisons(tables)
    src_jobs, tgt_jobs = [], []
    for t in tables:
        key = t.key
        src_jobs.append((key, checksum_query(t.source.schema, t.source.name, [(s, o) for s, _, o in t.columns],
                                             hash_name, t.condition), t.bytes))
        tgt_jobs.append((key, checksum_query(t.target.schema, t.target.name, [(n, o) for _, n, o in t.columns],
                                             hash_name, t.condition), t.bytes))
    with ThreadPoolExecutor(2) as pool:   # both sides at once
        fs = pool.submit(table_checksums, source, src_jobs, workers)
        ft = pool.submit(table_checksums, target, tgt_jobs, workers)
        src, tgt = fs.result(), ft.result()
    out = []
    for t in sorted(tables, key=lambda t: t.key):
        key = t.key
        (srows, ssum), (trows, tsum) = src[key], tgt[key]
        out.append({"table": key, "target": f"{t.target.schema}.{t.target.name}",
                    "source_rows": srows, "target_rows": trows, "rows_match": srows == trows,
                    "checksum_match": ssum == tsum, "ok": srows == trows and ssum == tsum,
                    "extension": t.extension})
    return out


def sequence_values(conn: psycopg.Connection, sequences, target_side: bool) -> dict:
    """{"schema.name" on the source: (last_value, is_called)}, read on the source or the target side."""
    out = {}
    for s in sequences:
        where = s.target if target_side else s.source
        last, called = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
            where.identifier)).fetchone()
        out[f"{s.source.schema}.{s.source.name}"] = (int(last), bool(called))
    return out


def write_counters(conn: psycopg.Connection, plan: Plan) -> dict:
    """{table oid as str: writes} for the migrated tables (JSON keys are strings)."""
    oids = {r.oid for r in plan.data_tables}
    return {str(r["oid"]): int(r["writes"]) for r in fetch(conn, "list_write_counters") if r["oid"] in oids}


def object_counts(conn: psycopg.Connection, relations: list[QualifiedName], schemas: list[str],
                  left_out: frozenset = frozenset()) -> dict:
    """Counts by kind of what belongs to the given relations and schemas (sql/list_dumped_objects.sql), but
    for `left_out` (see count_by_kind)."""
    return count_by_kind(fetch(conn, "list_dumped_objects"), relations, schemas, left_out)


def count_by_kind(rows: list[dict], relations: list[QualifiedName], schemas: list[str],
                  left_out: frozenset = frozenset()) -> dict:
    """Counts by kind of the listed objects that belong to the given relations and schemas, less those
    `left_out` names by (catalog oid, object oid): on the source, Plan.left_out_entries, the list structure
    left out of the dump. An object is subtracted only if the source lists it, as one pg_dump restores: a
    shell operator that depends on a left-out type is neither counted nor subtracted."""
    rel_set = set(relations)
    counts: dict[str, int] = {}
    for r in rows:
        if (r["class_oid"], r["oid"]) in left_out:
            continue
        scoped = QualifiedName(r["schema"], r["relation"]) in rel_set if r["relation"] is not None else r["schema"] in schemas
        if scoped:
            counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    return dict(sorted(counts.items()))


PUBLICATIONS_SINCE = 100000
PUBLICATION_SCHEMAS_SINCE = 150000


def publication_counts(conn: psycopg.Connection) -> dict:
    """Publications, their tables and their schemas, by kind (nothing before PostgreSQL 10)."""
    version = conn.info.server_version
    rows = fetch(conn, "count_publications") if version >= PUBLICATIONS_SINCE else []
    if version >= PUBLICATION_SCHEMAS_SINCE:
        rows += fetch(conn, "count_publication_schemas")
    return {r["kind"]: r["n"] for r in rows if r["n"]}


def large_object_digests(conn: psycopg.Connection) -> dict[int, dict]:
    """{oid: {owner, acl, content_md5}} of every large object."""
    return {r["oid"]: r for r in fetch(conn, "list_large_object_digests")}


def compare_large_objects(source: dict[int, dict], target: dict[int, dict], keep_owners: bool) -> dict:
    """Count, owners, privileges and content of large objects, OID by OID; each difference named."""
    fields = ("content_md5", "owner", "acl") if keep_owners else ("content_md5",)
    differing = []
    for oid in sorted(set(source) | set(target)):
        s, t = source.get(oid), target.get(oid)
        if s is None or t is None:
            differing.append(f"{oid} {'missing on the target' if t is None else 'only on the target'}")
            continue
        what = [f for f in fields if s[f] != t[f]]
        if what:
            differing.append(f"{oid} ({', '.join('content' if f == 'content_md5' else f for f in what)} differs)")
    return {"source": len(source), "target": len(target), "differing": differing}


def dump_comparable(plan: Plan) -> bool:
    """pg_dump's table of contents of both sides are compared in whole-database runs: there the target must
    hold exactly what pg_dump | pg_restore would have restored, less what the plan leaves out (the source's
    entries go through the same filter as structure's, SchemaArchive)."""
    return plan.whole_database


def dump_entries(endpoint: PgEndpoint, plan: Plan, tools: ClientTools, keep_owners: bool,
                 target_side: bool) -> dict[str, list[str]]:
    """{pg_dump entry kind: its entries as "schema tag", sorted}: the schema-only dump pgferry restores from,
    on the source (minus what the plan leaves out), or the same dump of the target."""
    from include.pgferry.pg.ddl import SchemaArchive   # pg_dump is only needed here
    if target_side:
        plan = Plan(schemas=tuple(SchemaMove(s.target, s.target, s.whole) for s in plan.schemas),
                    whole_database=plan.whole_database)
    from include.pgferry.logical.loaded_blocks import SCHEMA as LOADED_BLOCKS
    out: dict[str, list[str]] = {}
    # the copy lanes' bookkeeping (finalize removes it; left over from a run that stopped before) is pgferry's
    with SchemaArchive(endpoint, plan, tools, keep_owners,
                       exclude_schemas=(LOADED_BLOCKS,) if target_side else ()) as archive:
        for e in archive.entries:
            out.setdefault(e.desc, []).append(" ".join(e.rest.split(" ")[:-1]))   # "schema tag" (owner cut)
    return {k: sorted(v) for k, v in sorted(out.items())}


def compare_dump_entries(source: dict[str, list[str]], target: dict[str, list[str]], renamed: bool,
                         target_superuser: bool) -> dict:
    """Kind by kind, what pg_dump lists on both sides; a difference is named (the entries themselves when
    nothing was renamed). One difference PostgreSQL itself explains is not a failure: a target user that
    is not a superuser cannot give `public` the source's owner (pg_dump lists `SCHEMA public` only when its
    owner is not the default), and structure said so."""
    differing, explained = [], []
    for kind in sorted(set(source) | set(target)):
        s, t = source.get(kind, []), target.get(kind, [])
        if s == t or (renamed and len(s) == len(t)):
            continue
        detail = f"{kind}: {len(s)} on the source, {len(t)} on the target"
        if not renamed:
            missing = sorted(set(s) - set(t))
            extra = sorted(set(t) - set(s))
            if not target_superuser and kind in ("SCHEMA", "ACL", "COMMENT") and \
                    set(missing + extra) <= {"- public", "- SCHEMA public"}:
                explained.append(detail + " (schema public keeps the target's owner: only a superuser may change it)")
                continue
            detail += "".join([f"; missing on the target: {', '.join(missing[:5])}" if missing else "",
                               f"; only on the target: {', '.join(extra[:5])}" if extra else ""])
        differing.append(detail)
    return {"kinds": len(set(source) | set(target)), "entries": sum(len(v) for v in source.values()),
            "differing": differing, "explained": explained}


# -- what validate compares: the source's catalog decides, not the plan ----------------------------------
@dataclass(frozen=True)
class TableComparison:
    """One table validate compares: its rows on the source against its counterpart's on the target."""
    oid: int
    source: QualifiedName
    target: QualifiedName
    columns: tuple[tuple[str, str, int | None], ...]   # (source name, target name, source type oid)
    bytes: int = 0
    extension: str | None = None   # a configuration table of this extension ...
    condition: str = ""            # ... compared on the rows pg_dump dumps of it, on both sides

    @property
    def key(self) -> str:
        return str(self.source)


@dataclass
class Scope:
    """What validate compares, decided by the source's catalog, and every way the plan falls short of it."""
    tables: list[TableComparison] = field(default_factory=list)
    sequences: list[Sequence] = field(default_factory=list)
    in_scope: int = 0                                          # tables with data the selection moves
    not_planned: list[str] = field(default_factory=list)      # in scope, no place in the plan
    sequences_not_planned: list[str] = field(default_factory=list)
    columns_left_out: list[str] = field(default_factory=list)  # columns the plan leaves out, not the selection
    misplaced: list[str] = field(default_factory=list)         # a table or column the plan renames otherwise
    left_out: list[str] = field(default_factory=list)          # left out on purpose (skip_unmigratable)
    missing_on_target: list[str] = field(default_factory=list)
    configuration_sequences: set[int] = field(default_factory=set)   # oids: CREATE EXTENSION makes them

    def to_report(self) -> dict:
        return {"tables": self.in_scope, "sequences": len(self.sequences),
                "configuration_tables": sorted(f"{t.key} ({t.extension})" for t in self.tables if t.extension),
                "not_planned": self.not_planned, "sequences_not_planned": self.sequences_not_planned,
                "columns_left_out": self.columns_left_out, "misplaced": self.misplaced, "left_out": self.left_out,
                "missing_on_target": self.missing_on_target}


def plan_comparisons(plan: Plan) -> list[TableComparison]:
    """The plan's own tables, as the copy moved them (columns and names after renames; a configuration table
    on the rows its filter keeps, as the copy moved only those)."""
    return [TableComparison(t.oid, t.source, t.target, tuple((c.name, c.target_name, c.type_oid) for c in t.columns),
                            t.bytes, condition=t.filter or "")
            for t in plan.data_tables]


def scope_against_plan(scope: list[DumpedData], plan: Plan, rename, skip_unmigratable: bool = False) -> Scope:
    """Every table the catalog puts in scope is compared: through its plan relation (renames, columns),
    a configuration table through its schema's rename on the rows pg_dump dumps (the plan need not list
    it: CREATE EXTENSION makes the table, the copy adds the rows); a table with no place in the plan is
    named. Every plan table is compared too, in scope or not (nothing the plan copies goes unchecked).
    With skip_unmigratable, what the plan lists as left out (a table, a column) is named, not a failure."""
    # the rename Param (its syntax checked by precheck): where each table and column must arrive
    renames = {parse_rename_key(key): parse_bare_name(new, f"rename {key!r}") for key, new in (rename or {}).items()}
    schema_map = {k[0]: v for k, v in renames.items() if len(k) == 1}
    planned = {r.oid: r for r in plan.data_tables}
    left_out_on_purpose = {e[1] for d in plan.left_out_dependents for e in d.entries if e[0] == PG_CLASS} \
        if skip_unmigratable else set()
    out = Scope()
    for d in scope:
        if d.relkind != "r":
            continue
        out.in_scope += 1
        rel = planned.get(d.oid)
        if d.extension is not None:
            target = rel.target if rel else QualifiedName(schema_map.get(d.source.schema, d.source.schema),
                                                          d.source.name)
            cols = tuple((c.name, c.target_name, c.type_oid) for c in rel.columns) if rel else \
                tuple((name, name, type_oid) for name, type_oid in d.columns)
            out.tables.append(TableComparison(d.oid, d.source, target, cols, d.bytes, d.extension, d.condition))
        elif rel is None:
            (out.left_out if d.oid in left_out_on_purpose else out.not_planned).append(str(d.source))
        else:
            planned_cols = {c.name for c in rel.columns}
            wanted = [n for n, _ in d.columns if d.chosen_columns is None or n in d.chosen_columns]
            # a column the selection takes and the plan drops: only skip_unmigratable may (the plan lists it)
            lost = [n for n in wanted if n not in planned_cols
                    and not (skip_unmigratable and n in rel.dropped_columns)]
            if lost:
                out.columns_left_out.append(f"{d.source} ({', '.join(lost)})")
            s_name, t_name = d.source.schema, d.source.name
            expected = QualifiedName(schema_map.get(s_name, s_name), renames.get((s_name, t_name), t_name))
            if rel.target != expected:
                out.misplaced.append(f"table {d.source}: the plan copies it to {rel.target}, the rename Param "
                                     f"says {expected}")
            out.misplaced += [f"table {d.source}: the plan copies column {c.name} to {c.target_name}, the rename "
                              f"Param says {renames.get((s_name, t_name, c.name), c.name)}" for c in rel.columns
                              if c.target_name != renames.get((s_name, t_name, c.name), c.name)]
    filtered = {t.oid for t in out.tables}   # configuration tables: compared on their filtered rows
    out.tables += [t for t in plan_comparisons(plan) if t.oid not in filtered]
    out.tables.sort(key=lambda t: t.key)
    planned_seqs = {s.oid: s for s in plan.sequences}
    for d in scope:
        if d.relkind != "S":
            continue
        s = planned_seqs.get(d.oid)
        if s is not None:
            out.sequences.append(s)
        elif d.extension is not None:   # CREATE EXTENSION makes it; pg_dump sets its value
            out.sequences.append(Sequence(d.oid, d.source, QualifiedName(
                schema_map.get(d.source.schema, d.source.schema), d.source.name)))
            out.configuration_sequences.add(d.oid)
        elif d.oid in left_out_on_purpose or (d.owner and (  # it follows a table or column left out on purpose
                d.owner[0] in left_out_on_purpose or
                (skip_unmigratable and d.owner[0] in planned and d.owner[1] in planned[d.owner[0]].dropped_columns))):
            out.left_out.append(str(d.source))
        else:
            out.sequences_not_planned.append(str(d.source))
    in_scope_seqs = {s.oid for s in out.sequences}
    out.sequences += [s for s in plan.all_sequences if s.oid not in in_scope_seqs]
    return out


def tables_to_compare(source: psycopg.Connection, target: psycopg.Connection, params: dict,
                      plan: Plan) -> list[TableComparison]:
    """The tables validate would read now: the source catalog's scope (scope_against_plan), on tables both
    sides have (one either side lacks is validate's to name, not to read)."""
    scope = scope_against_plan(dumped_data(source, params.get("objects"), params.get("exclude")), plan,
                               params.get("rename"), bool(params.get("skip_unmigratable", False)))
    gone_from_source = missing_relations(source, [t.source for t in scope.tables])
    gone = missing_relations(target, [t.target for t in scope.tables])
    return [t for t in scope.tables if t.source not in gone_from_source and t.target not in gone]


def empty_on_source(source: PgEndpoint, tables: list[TableComparison], hash_name: str) -> set[str]:
    """Which of `tables` hold no rows on the source (a configuration table: none its filter keeps)."""
    if not tables:
        return set()
    jobs = [(t.key, checksum_query(t.source.schema, t.source.name, [(s, o) for s, _, o in t.columns], hash_name,
                                   t.condition), t.bytes) for t in tables]
    return {key for key, (rows, _) in table_checksums(source, jobs, 1).items() if rows == 0}


def missing_relations(conn: psycopg.Connection, names) -> set[QualifiedName]:
    """Which of `names` the target has no relation of (one catalog read, sql/list_existing_relations.sql)."""
    names = set(names)
    if not names:
        return set()
    rows = fetch(conn, "list_existing_relations", schemas=sorted({q.schema for q in names}))
    return names - {QualifiedName(r["schema"], r["name"]) for r in rows}


# -- structure drift: DDL on the source after the structure was read ---------------------------------------
@dataclass(frozen=True)
class Drift:
    """One way a migrated table's structure differs between the sides: `table` is its source name (as the
    problem names it), `kind` table, column, index, constraint or trigger, `name` that object's name."""
    table: str
    kind: str
    name: str
    text: str
    side: str = "source"      # which side has it: "source", "target" (or "both", with different types)


def _structure(conn: psycopg.Connection, schemas) -> dict[QualifiedName, dict[str, dict[str, str | None]]]:
    """{table: {kind: {name: detail}}} of every table of `schemas` (sql/list_table_structure.sql)."""
    out: dict[QualifiedName, dict[str, dict]] = {}
    for r in fetch(conn, "list_table_structure", schemas=sorted(set(schemas))):
        parts = out.setdefault(QualifiedName(r["schema"], r["relation"]), {})
        if r["kind"] != "table":
            parts.setdefault(r["kind"], {})[r["name"]] = r["detail"]
    return out


STRUCTURE_PARTS = ("column", "index", "constraint", "trigger")


def structure_drift(source: psycopg.Connection, target: psycopg.Connection, plan: Plan) -> list[Drift]:
    """Each column, index, constraint and trigger of a migrated table that one side has and the other lacks
    (a column's type too, when no schema is renamed), each migrated table gone from the source, and each
    table of a wholly moved schema that the source has and the plan does not: what DDL made on the source
    after structure and plan_lanes read it leaves behind. Names are compared after the plan's renames."""
    tables = [r for r in plan.relations if r.relkind in ("r", "p")]
    src = _structure(source, {s.source for s in plan.schemas} | {r.source.schema for r in tables})
    tgt = _structure(target, {s.target for s in plan.schemas} | {r.target.schema for r in tables})
    types_comparable = all(s.source == s.target for s in plan.schemas) and \
        all(r.source.schema == r.target.schema for r in tables)
    out = []
    for rel in sorted(tables, key=lambda r: str(r.source)):
        s, t = src.get(rel.source), tgt.get(rel.target)
        key = str(rel.source)
        if t is None:
            continue                      # missing on the target: validate's scope names it
        if s is None:
            out.append(Drift(key, "table", rel.source.name, f"table {key}: gone from the source, still on the target"
                             + (f" as {rel.target}" if rel.target != rel.source else ""), "target"))
            continue
        to_target = {c.name: c.target_name for c in rel.columns}
        to_source = {v: k for k, v in to_target.items()}
        left_out = set(rel.dropped_columns)
        for part in STRUCTURE_PARTS:
            mine, theirs = s.get(part, {}), t.get(part, {})
            if part == "column":
                mine = {to_target.get(n, n): d for n, d in mine.items() if n not in left_out}
            for name in sorted(set(mine) - set(theirs)):
                shown = to_source.get(name, name) if part == "column" else name
                out.append(Drift(key, part, shown, f"table {key}: {part} {shown} on the source only"))
            for name in sorted(set(theirs) - set(mine)):
                out.append(Drift(key, part, name, f"table {key}: {part} {name} on the target only"
                                 + (f" (of {rel.target})" if rel.target != rel.source else ""), "target"))
            if part == "column" and types_comparable:
                for name in sorted(set(mine) & set(theirs)):
                    if mine[name] != theirs[name]:
                        out.append(Drift(key, part, name, f"table {key}: column {to_source.get(name, name)} is "
                                                          f"{mine[name]} on the source, {theirs[name]} on the target",
                                         "both"))
    planned = {r.source for r in plan.relations} | set(plan.excluded_relations) | \
        {r.source for r in plan.extension_tables}
    whole = {s.source for s in plan.schemas if s.whole}
    for q in sorted(set(src) - planned, key=str):
        if q.schema in whole:
            out.append(Drift(str(q), "table", q.name, f"table {q}: on the source only, not in the run's plan"))
    return out
