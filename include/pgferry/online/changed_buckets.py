"""What changed on the target's migrated tables since the pre-validation: the bookkeeping that lets the
cutover's validate read again only those rows (online/prevalidation.py).

The pre-validation registers each table it checksums in `pgferry_online.watched_tables`. A table whose
replica identity is one integer column (its key column) has its rows in buckets of 2^shift consecutive key
values; any other table is one bucket. From the transaction that registers them on, every apply batch
records, in the same target transaction as the changes it applies (apply.ApplyWorker.batch):
- `changed_buckets`: the bucket of every key a change names (an UPDATE's old and new key);
- `reread_whole`: a table to read again whole, and why: a change without a usable key (a TRUNCATE, a table
  without an integer key, a replica identity that is no longer the registered column), or a write on the
  target by a session that is not in replication role (the watch triggers below: the application, a person).
Registration takes the apply's progress row lock, so an apply batch commits either wholly before it (its
changes are in what the pre-validation then reads) or wholly after it (its changes are recorded).

The watch triggers fire for every session but those in replication role: pgferry's apply and a native
subscription run in that role, so they never fire for the run's own changes (and cost it nothing).
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from include.pgferry.model import QualifiedName
from include.pgferry.online import pgoutput as po

SCHEMA = "pgferry_online"
WATCHED = QualifiedName(SCHEMA, "watched_tables")
BUCKETS = QualifiedName(SCHEMA, "changed_buckets")
WHOLE = QualifiedName(SCHEMA, "reread_whole")
PREVALIDATED = QualifiedName(SCHEMA, "prevalidated")
NOTE_WRITE = QualifiedName(SCHEMA, "note_foreign_write")
RUN_TABLES = (WATCHED, BUCKETS, WHOLE, PREVALIDATED)     # rows by slot_name, removed with the run
INTEGER_TYPES = {20, 21, 23}        # int8, int2, int4
FOREIGN_WRITE = "written on the target by a session other than pgferry's apply"


@dataclass(frozen=True)
class Watched:
    key_column: str | None      # None: the table is one bucket
    shift: int | None


def ensure_tables(target: psycopg.Connection):
    """The bookkeeping tables (in the caller's transaction; the schema exists)."""
    target.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (slot_name text NOT NULL, table_oid oid NOT NULL, "
                           "key_column text, shift int, PRIMARY KEY (slot_name, table_oid))").format(WATCHED.identifier))
    target.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (slot_name text NOT NULL, table_oid oid NOT NULL, "
                           "bucket bigint NOT NULL, PRIMARY KEY (slot_name, table_oid, bucket))"
                           ).format(BUCKETS.identifier))
    target.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (slot_name text NOT NULL, table_oid oid NOT NULL, "
                           "why text NOT NULL, PRIMARY KEY (slot_name, table_oid))").format(WHOLE.identifier))
    # the pre-validation's rows and checksum of each bucket, side 's' (source) and 't' (target)
    target.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (slot_name text NOT NULL, table_oid oid NOT NULL, "
                           "side \"char\" NOT NULL, bucket bigint NOT NULL, rows bigint NOT NULL, checksum numeric NOT NULL, "
                           "PRIMARY KEY (slot_name, table_oid, side, bucket))").format(PREVALIDATED.identifier))
    # SECURITY DEFINER: a writer without rights on pgferry's schema is recorded, not refused
    target.execute(sql.SQL(
        "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
        "SET search_path = pg_catalog AS $$ BEGIN "
        "INSERT INTO {whole} (slot_name, table_oid, why) VALUES (TG_ARGV[0], TG_ARGV[1]::oid, {why}) "
        "ON CONFLICT (slot_name, table_oid) DO UPDATE SET why = excluded.why; RETURN NULL; END $$"
    ).format(fn=NOTE_WRITE.identifier, whole=WHOLE.identifier, why=sql.Literal(FOREIGN_WRITE)))


def watched(target: psycopg.Connection, slot: str) -> dict[int, Watched]:
    """The tables the pre-validation registered for this slot (none before it ran)."""
    if target.execute("SELECT to_regclass(%s)", (str(WATCHED),)).fetchone()[0] is None:
        return {}
    rows = target.execute(sql.SQL("SELECT table_oid, key_column, shift FROM {} WHERE slot_name = %s"
                                  ).format(WATCHED.identifier), (slot,)).fetchall()
    return {int(oid): Watched(column, shift) for oid, column, shift in rows}


@dataclass
class Touched:
    """What a batch's changes touched of the watched tables."""
    buckets: set[tuple[int, int]]
    whole: dict[int, str]


def _key_index(rel: po.Relation, w: Watched) -> int | None:
    """The registered key column's position in the Relation, if it is still the replica identity's only column."""
    keys = rel.key_columns
    if len(keys) != 1 or keys[0].name != w.key_column or keys[0].type_oid not in INTEGER_TYPES:
        return None
    return rel.columns.index(keys[0])


def touched(transactions, tables: dict[int, Watched]) -> Touched:
    out = Touched(set(), {})
    for tx in transactions:
        for change in tx.changes:
            msg = change.message
            if isinstance(msg, po.Truncate):
                for rel in change.relations:
                    if rel.oid in tables:
                        out.whole[rel.oid] = "truncated on the source"
                continue
            rel = change.relation
            w = tables.get(rel.oid)
            if w is None or rel.oid in out.whole:
                continue
            if w.key_column is None:
                out.whole[rel.oid] = "changed on the source (no integer key: one bucket)"
                continue
            at = _key_index(rel, w)
            rows = [msg.new] if isinstance(msg, po.Insert) else \
                [msg.new] + ([msg.old] if msg.old is not None else []) if isinstance(msg, po.Update) else [msg.old]
            values = [r[at] for r in rows] if at is not None else []
            if at is None or any(v.kind != po.TEXT for v in values):
                out.whole[rel.oid] = f"its replica identity is no longer {w.key_column!r} alone"
                continue
            for v in values:
                out.buckets.add((rel.oid, int(v.text) >> w.shift))
    return out


def record(target: psycopg.Connection, slot: str, t: Touched):
    """In the apply batch's transaction."""
    if t.buckets:
        oids, buckets = zip(*sorted(t.buckets))
        target.execute(sql.SQL("INSERT INTO {} (slot_name, table_oid, bucket) SELECT %s, * FROM "
                               "unnest(%s::oid[], %s::int8[]) ON CONFLICT DO NOTHING").format(BUCKETS.identifier),
                       (slot, list(oids), list(buckets)))
    if t.whole:
        oids, whys = zip(*sorted(t.whole.items()))
        target.execute(sql.SQL("INSERT INTO {} (slot_name, table_oid, why) SELECT %s, * FROM "
                               "unnest(%s::oid[], %s::text[]) ON CONFLICT DO NOTHING").format(WHOLE.identifier),
                       (slot, list(oids), list(whys)))


def trigger_names(slot: str) -> tuple[str, str]:
    """The watch triggers of a run on each table: rows, and TRUNCATE."""
    return f"{slot}_rows", f"{slot}_truncate"


def watch(target: psycopg.Connection, slot: str, table: QualifiedName, source_oid: int):
    """The watch triggers on one target table (idempotent: a retry replaces them)."""
    rows, truncate = trigger_names(slot)
    args = sql.SQL("{}({}, {})").format(NOTE_WRITE.identifier, sql.Literal(slot), sql.Literal(str(source_oid)))
    with target.transaction():
        for name, when in ((rows, "AFTER INSERT OR UPDATE OR DELETE ON {} FOR EACH ROW"),
                           (truncate, "AFTER TRUNCATE ON {} FOR EACH STATEMENT")):
            target.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(name), table.identifier))
            # EXECUTE PROCEDURE: the spelling every supported server accepts
            target.execute(sql.SQL("CREATE TRIGGER {} " + when + " EXECUTE PROCEDURE {}").format(
                sql.Identifier(name), table.identifier, args))


def _triggers(target: psycopg.Connection, slot: str) -> list[tuple[str, str, str]]:
    return target.execute("SELECT t.tgname, n.nspname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                          "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgname = ANY(%s)",
                          (list(trigger_names(slot)),)).fetchall()


def watching(target: psycopg.Connection, slot: str) -> int:
    """How many watch triggers of the run are on the target."""
    return len(_triggers(target, slot))


def unwatch(target: psycopg.Connection, slot: str) -> int:
    """Drop the run's watch triggers wherever they are (abort, cleanup, validate); how many."""
    found = _triggers(target, slot)
    for name, schema, table in found:
        target.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(name),
                                                                         sql.Identifier(schema, table)))
    return len(found)
