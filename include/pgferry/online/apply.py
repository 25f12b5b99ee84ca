"""Applies the source's decoded transactions to the target: pgferry's own change apply (engine B).

One batch: peek the run's slot on the source (whole transactions, at most about `max_changes` rows),
decode them (online/pgoutput.py), then in ONE target transaction
  - lock this slot's row of `pgferry_online.apply_progress` (FOR UPDATE: two appliers never interleave),
  - skip every transaction whose commit LSN is at or below the recorded one (applied before a crash),
  - apply the rest in source commit order, with the run's renames and selection (the Plan),
  - record the last commit LSN and its end, the source's commit time of that transaction and the running
    counts of transactions and row changes applied (the catch-up wait's lag in seconds and the run
    report read them),
and only after that commit, `pg_replication_slot_advance` the source slot. A worker killed between the
target's commit and the advance peeks the same transactions again and skips them: nothing is applied
twice and nothing is lost, on any worker.

Rows are found by the source's replica identity, as the Relation message flags its key columns: the old
key when the key changed ('K'), the whole old row for REPLICA IDENTITY FULL ('O', and then exactly one
matching row is changed), otherwise the new row's key columns. A column the source sent as 'u' (an
unchanged TOASTed value) is left as the target has it. Every change must find its row: an UPDATE or
DELETE that changes none means the target has drifted from the source, and the batch fails rather than
going on (native logical replication skips such changes silently).

Values travel in text form as untyped parameters, so the target parses them with its own column types;
both sessions use pgferry's session settings (ISO dates, UTC, extra_float_digits=3), so what the source
writes the target reads back unchanged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from include.pgferry.model import Plan, QualifiedName
from include.pgferry.online import changed_buckets as cb
from include.pgferry.online import pgoutput as po
from include.pgferry.pg.catalog import fetch_one

log = logging.getLogger("pgferry")

SCHEMA = "pgferry_online"
PROGRESS = QualifiedName(SCHEMA, "apply_progress")
MAX_CHANGES = 10_000
CAUGHT_UP_MARK_S = 10     # an idle apply (nothing to apply) says it is caught up at most this often

# types whose `=` is not equality of values (box and circle compare areas) or that have none (json, xml,
# point, ...): a REPLICA IDENTITY FULL row is matched on their text form instead
_COMPARE_AS_TEXT = {114, 142, 600, 601, 602, 603, 604, 628, 718}


class ApplyError(RuntimeError):
    """A change pgferry must not apply blindly: the target and source have drifted, or the source changed
    in a way the run's plan does not cover (DDL)."""


@dataclass(frozen=True)
class TargetTable:
    """Where one source table's changes go: the target table and each source column's target name."""
    source: QualifiedName
    target: QualifiedName
    columns: dict[str, str]                  # source column -> target column (copied columns)
    left_out: frozenset[str] = frozenset()   # source columns the run's column list leaves out


def target_tables(plan: Plan) -> dict[int, TargetTable]:
    """Source table oid -> where its changes go; by oid, so a table renamed on the source still maps."""
    return {r.oid: TargetTable(r.source, r.target, {c.name: c.target_name for c in r.copy_columns},
                               frozenset(r.dropped_columns))
            for r in plan.data_tables}


@dataclass(frozen=True)
class Progress:
    commit_lsn: int
    end_lsn: int
    transactions: int
    changes: int = 0                         # row changes applied (insert, update, delete; a truncate is one)
    commit_time: datetime | None = None      # the source's commit time of the last applied transaction


@dataclass
class BatchResult:
    peeked: int = 0                 # transactions decoded
    applied: int = 0                # ... of which applied now (the others were applied before)
    changes: int = 0
    advanced_to: int | None = None  # where the slot now stands (None: not moved)
    progress: Progress | None = None
    drained: bool = False           # everything committed before the batch began was seen


# -- bookkeeping on the target --------------------------------------------------------------------

def ensure_bookkeeping(target: psycopg.Connection):
    """`pgferry_online.apply_progress`, one row per slot; idempotent, and a table an earlier pgferry made
    gets the columns added since (ADD COLUMN IF NOT EXISTS):
    - commit_time: the source's commit timestamp of the last applied transaction (pgoutput's Commit);
    - caught_up_at: the source's clock when a batch last saw everything the source had flushed (so the
      lag in seconds stays small while the source writes only to tables the run does not migrate);
    - changes: row changes applied, over every try."""
    with target.transaction():
        target.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        target.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (slot_name text PRIMARY KEY, commit_lsn pg_lsn NOT NULL, "
            "end_lsn pg_lsn NOT NULL, transactions bigint NOT NULL, applied_at timestamptz NOT NULL)"
        ).format(PROGRESS.identifier))
        target.execute(sql.SQL(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS commit_time timestamptz, "
            "ADD COLUMN IF NOT EXISTS caught_up_at timestamptz, "
            "ADD COLUMN IF NOT EXISTS changes bigint NOT NULL DEFAULT 0").format(PROGRESS.identifier))


def read_progress(target: psycopg.Connection, slot: str, lock: bool = False) -> Progress | None:
    query = sql.SQL("SELECT commit_lsn::text, end_lsn::text, transactions, changes, commit_time FROM {} "
                    "WHERE slot_name = %s{}").format(PROGRESS.identifier, sql.SQL(" FOR UPDATE") if lock else sql.SQL(""))
    row = target.execute(query, (slot,)).fetchone()
    return Progress(po.lsn_int(row[0]), po.lsn_int(row[1]), row[2], row[3], row[4]) if row else None


def claim_progress(target: psycopg.Connection, slot: str) -> Progress | None:
    """The slot's progress, its row locked to this transaction (made first if there is none, so that the
    lock also serializes the very first batch)."""
    target.execute(sql.SQL("INSERT INTO {} (slot_name, commit_lsn, end_lsn, transactions, applied_at) "
                           "VALUES (%s, '0/0', '0/0', 0, now()) ON CONFLICT DO NOTHING").format(PROGRESS.identifier),
                   (slot,))
    p = read_progress(target, slot, lock=True)
    return p if p and p.end_lsn else None


def _write_progress(target: psycopg.Connection, slot: str, last: po.Transaction, count: int, changes: int,
                    caught_up_at: datetime | None):
    target.execute(sql.SQL("UPDATE {} SET commit_lsn = %s::pg_lsn, end_lsn = %s::pg_lsn, "
                           "transactions = transactions + %s, changes = changes + %s, commit_time = %s, "
                           "caught_up_at = coalesce(%s, caught_up_at), applied_at = now() "
                           "WHERE slot_name = %s").format(PROGRESS.identifier),
                   (po.lsn_text(last.commit_lsn), po.lsn_text(last.end_lsn), count, changes, last.commit_time,
                    caught_up_at, slot))


def _mark_caught_up(target: psycopg.Connection, slot: str, caught_up_at: datetime):
    target.execute(sql.SQL("UPDATE {} SET caught_up_at = %s WHERE slot_name = %s").format(PROGRESS.identifier),
                   (caught_up_at, slot))


# -- one change -----------------------------------------------------------------------------------

class Applier:
    """Applies decoded transactions to a target session that runs with session_replication_role=replica."""

    def __init__(self, tables: dict[int, TargetTable]):
        self.tables = tables

    def _table(self, rel: po.Relation) -> TargetTable:
        t = self.tables.get(rel.oid)
        if t is None:
            raise ApplyError(f"the source sent changes of {QualifiedName(rel.schema, rel.name)} (oid {rel.oid}), "
                             f"which this run does not migrate: its publication lists more than the plan")
        return t

    def _column(self, t: TargetTable, rel: po.Relation, col: po.Column) -> str | None:
        if col.name in t.columns:
            return t.columns[col.name]
        if col.name in t.left_out:
            return None
        raise ApplyError(f"the source's {QualifiedName(rel.schema, rel.name)} has a column {col.name!r} the run's "
                         f"plan does not know: was it added on the source during the run? (DDL is not replicated)")

    def _values(self, t, rel, values) -> list[tuple[str, po.Value]]:
        """(target column, value) of every migrated column that has a value (not 'u')."""
        if len(values) != len(rel.columns):
            raise ApplyError(f"{len(values)} values for the {len(rel.columns)} columns of "
                             f"{QualifiedName(rel.schema, rel.name)}")
        out = []
        for col, value in zip(rel.columns, values):
            name = self._column(t, rel, col)
            if name is None or value.kind == po.UNCHANGED:
                continue
            if value.kind == po.BINARY:
                raise ApplyError("a binary-format value: pgferry reads pgoutput without the binary option")
            out.append((name, value))
        return out

    def _identity(self, t, rel, change) -> tuple[sql.Composable, list, bool]:
        """WHERE condition, its parameters, and whether it may match several rows (FULL identity)."""
        msg = change
        old = msg.old
        full = getattr(msg, "old_kind", None) == "O"
        if old is None:      # an UPDATE that kept its key: the new row's key columns
            if not rel.key_columns:
                raise ApplyError(f"{QualifiedName(rel.schema, rel.name)} has no replica identity: its UPDATE and "
                                 f"DELETE cannot be applied")
            old = tuple(v if c.key else po.Value(po.NULL) for c, v in zip(rel.columns, msg.new))
        parts, params = [], []
        for col, value in zip(rel.columns, old):
            if not (full or col.key) or value.kind == po.UNCHANGED:
                continue
            name = self._column(t, rel, col)
            if name is None:
                continue
            ident = sql.Identifier(name)
            if value.kind == po.NULL:
                if not full:
                    raise ApplyError(f"a key column {col.name!r} of {QualifiedName(rel.schema, rel.name)} came "
                                     f"without its value")
                parts.append(sql.SQL("{} IS NULL").format(ident))
                continue
            if full and col.type_oid in _COMPARE_AS_TEXT:
                parts.append(sql.SQL("{}::text = %s::text").format(ident))
            else:
                parts.append(sql.SQL("{} = %s").format(ident))
            params.append(value.text)
        if not parts:
            raise ApplyError(f"no identifying column of {QualifiedName(rel.schema, rel.name)} has a value")
        return sql.SQL(" AND ").join(parts), params, full

    def _where_one(self, t, cond, full) -> sql.Composable:
        if not full:
            return cond
        # FULL identity: duplicates are possible, and one source row change is one target row change
        return sql.SQL("ctid = (SELECT ctid FROM ONLY {} WHERE {} LIMIT 1)").format(t.target.identifier, cond)

    def apply_change(self, target: psycopg.Connection, change: po.Change) -> None:
        msg = change.message
        if isinstance(msg, po.Truncate):
            tables = [self._table(r).target.identifier for r in change.relations]
            target.execute(sql.SQL("TRUNCATE ONLY {}{}").format(
                sql.SQL(", ").join(tables), sql.SQL(" RESTART IDENTITY") if msg.restart_identity else sql.SQL("")))
            return
        rel = change.relation
        t = self._table(rel)
        if isinstance(msg, po.Insert):
            cols = self._values(t, rel, msg.new)
            target.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                t.target.identifier, sql.SQL(", ").join(sql.Identifier(c) for c, _ in cols),
                sql.SQL(", ").join(sql.Placeholder() * len(cols))), [v.text for _, v in cols])
            return
        cond, params, full = self._identity(t, rel, msg)
        if isinstance(msg, po.Update):
            cols = self._values(t, rel, msg.new)
            if not cols:
                return
            cur = target.execute(sql.SQL("UPDATE ONLY {} SET {} WHERE {}").format(
                t.target.identifier, sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c, _ in cols),
                self._where_one(t, cond, full)), [v.text for _, v in cols] + params)
        else:
            cur = target.execute(sql.SQL("DELETE FROM ONLY {} WHERE {}").format(
                t.target.identifier, self._where_one(t, cond, full)), params)
        if cur.rowcount != 1:
            what = "UPDATE" if isinstance(msg, po.Update) else "DELETE"
            raise ApplyError(f"a source {what} of {QualifiedName(rel.schema, rel.name)} found {cur.rowcount} row(s) "
                             f"to change in {t.target} on the target, not 1: the target has drifted from the source")

    def apply_transaction(self, target: psycopg.Connection, tx: po.Transaction) -> int:
        for change in tx.changes:
            self.apply_change(target, change)
        return len(tx.changes)


# -- the source side ------------------------------------------------------------------------------

def peek(source: psycopg.Connection, slot: str, publication: str, upto_lsn: int, max_changes: int) -> list[tuple]:
    """Whole transactions from the slot, without consuming them (the advance does, after the target commit)."""
    pub = sql.Identifier(publication).as_string(source)     # publication_names is a list of identifiers
    return source.execute(
        "SELECT lsn::text, xid::text::bigint, data FROM pg_logical_slot_peek_binary_changes("
        "%s, %s::pg_lsn, %s, 'proto_version', '1', 'publication_names', %s)",
        (slot, po.lsn_text(upto_lsn), max_changes, pub)).fetchall()


def slot_position(source: psycopg.Connection, slot: str) -> int | None:
    row = fetch_one(source, "show_replication_slot", slot=slot)
    if row is None:
        raise ApplyError(f"the replication slot {slot!r} is gone from the source: changes since it was made are "
                         f"lost to this run; start the online migration again")
    return po.lsn_int(row["confirmed_flush_lsn"]) if row["confirmed_flush_lsn"] else None


def advance(source: psycopg.Connection, slot: str, lsn: int) -> int | None:
    """Move the slot forward to `lsn` (never back); where it stands afterwards."""
    here = slot_position(source, slot)
    if here is None or lsn > here:
        source.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (slot, po.lsn_text(lsn)))
        return lsn
    return here


def open_target_session(target: psycopg.Connection, lock_timeout_s: float = 60):
    """The apply session: triggers and foreign keys do not fire (the source already ran them), and every
    commit is durable before the source slot moves past it."""
    target.execute("SET session_replication_role = replica")
    target.execute("SET synchronous_commit = on")
    target.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(lock_timeout_s * 1000)}ms",))


@dataclass
class ApplyWorker:
    """One restartable apply loop's state: the decoder keeps the Relation messages between batches."""
    source: psycopg.Connection      # autocommit
    target: psycopg.Connection      # autocommit; open_target_session done
    plan: Plan
    slot: str
    publication: str
    max_changes: int = MAX_CHANGES
    decoder: po.Transactions = field(default_factory=po.Transactions)

    def __post_init__(self):
        self.applier = Applier(target_tables(self.plan))
        self._marked: datetime | None = None     # when this worker last wrote caught_up_at

    def batch(self, advance_slot: bool = True) -> BatchResult:
        """Apply one batch; `advance_slot=False` stops after the target commit (as a worker killed there)."""
        # decoding reads only WAL the source has flushed (asynchronous commits may lie beyond it): the
        # flush position, read first, is a point every transaction before which this peek sees
        flushed, looked_at = self.source.execute("SELECT pg_current_wal_flush_lsn()::text, clock_timestamp()"
                                                 ).fetchone()
        cap = po.lsn_int(flushed)
        rows = peek(self.source, self.slot, self.publication, cap, self.max_changes)
        # each peek is a new decoding session that sends its Relation messages again
        txs = list(self.decoder.feed(rows))
        result = BatchResult(peeked=len(txs), drained=len(rows) < self.max_changes)
        # drained: every transaction the source had committed (and flushed) at `looked_at` is in this batch
        caught_up_at = looked_at if result.drained else None
        with self.target.transaction():
            done = claim_progress(self.target, self.slot)
            todo = [t for t in txs if done is None or t.commit_lsn > done.commit_lsn]
            for tx in todo:
                result.changes += self.applier.apply_transaction(self.target, tx)
            if todo and (watched := cb.watched(self.target, self.slot)):
                # what the cutover's validate must read again, committed with the changes (changed_buckets.py)
                cb.record(self.target, self.slot, cb.touched(todo, watched))
            if todo:
                _write_progress(self.target, self.slot, todo[-1], len(todo), result.changes, caught_up_at)
                self._marked = looked_at if caught_up_at else self._marked
            elif caught_up_at and (self._marked is None or
                                   (looked_at - self._marked).total_seconds() >= CAUGHT_UP_MARK_S):
                _mark_caught_up(self.target, self.slot, looked_at)
                self._marked = looked_at
        result.applied = len(todo)
        result.progress = read_progress(self.target, self.slot)
        if todo:
            log.info("applied %d transaction(s), %d change(s), through commit %s", len(todo), result.changes,
                     po.lsn_text(todo[-1].commit_lsn))
        if advance_slot:
            goal = txs[-1].end_lsn if txs else 0
            if result.drained:
                # every transaction that committed before `cap` was in this batch: nothing lies before it
                goal = max(goal, cap)
            if goal:
                result.advanced_to = advance(self.source, self.slot, goal)
        return result
