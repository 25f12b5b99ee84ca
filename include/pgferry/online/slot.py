"""The online run's starting point on the source: its publication, the snapshot holder's temporary slot,
the permanent slot the apply reads, and the cleanup that removes them all.

Order (as pgcopydb and the protocol docs have it):
1. `create_publication`: the run's tables, before any slot, so the slot decodes them from its first change.
2. `SnapshotHolder.open`: `CREATE_REPLICATION_SLOT <run>_tmp TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')`
   on a replication connection. The exported snapshot is the data exactly as of the slot's consistent
   point; it stays importable (`SET TRANSACTION SNAPSHOT`, `pg_dump --snapshot`) only while that
   connection stays open and runs no other command. A temporary slot dies with its session: a holder
   that dies leaves no slot behind to retain WAL.
3. `copy_to_permanent`, once every reader of the snapshot is done: `pg_copy_logical_replication_slot`
   makes `pgferry_<run>` at the same confirmed_flush_lsn, which must be the consistent point (asserted):
   the apply then starts exactly where the snapshot's data ends. The holder may close after that.
4. `cleanup`: the target's subscription (apply_engine "subscription"), the slots, the publication and the
   target's bookkeeping, each asserted gone.

Slot creation waits for every transaction running on the source to end; that wait is bounded
(`create_timeout_s`) by cancelling the command, since statement_timeout does not apply to replication
commands.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from include.pgferry.online import apply as ap
from include.pgferry.online import changed_buckets as cb
from include.pgferry.online import pgoutput as po
from include.pgferry.online import subscription
from include.pgferry.model import QualifiedName
from include.pgferry.pg.catalog import fetch, fetch_one
from include.pgferry.pg.session_names import run_key

log = logging.getLogger("pgferry")

PREFIX = "pgferry_"
CREATE_TIMEOUT_S = 300
TERMINATE_WAIT_S = 10


class SlotError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunNames:
    """What one online run names on the source: its permanent slot, the holder's temporary slot, and its
    publication (all lower-case, well within NAMEDATALEN)."""
    slot: str
    temporary_slot: str
    publication: str

    @classmethod
    def of(cls, dag_id: str, run_id: str) -> RunNames:
        key = run_key(dag_id, run_id)
        return cls(f"{PREFIX}{key}", f"{PREFIX}{key}_tmp", f"{PREFIX}{key}")

    @property
    def subscription(self) -> str:
        """The target's subscription of apply_engine "subscription": named as the slot it reads."""
        return self.slot


@dataclass(frozen=True)
class ExportedSnapshot:
    slot: str
    consistent_lsn: int
    snapshot: str

    def to_xcom(self) -> dict:
        return {"slot": self.slot, "consistent_lsn": po.lsn_text(self.consistent_lsn), "snapshot": self.snapshot}

    @classmethod
    def from_xcom(cls, d: dict) -> ExportedSnapshot:
        return cls(d["slot"], po.lsn_int(d["consistent_lsn"]), d["snapshot"])


def create_publication(source: psycopg.Connection, name: str, tables: list[QualifiedName]):
    """The publication of the run's tables; a retry sets its list again rather than failing."""
    if not tables:
        raise SlotError("no table to publish: an online run needs at least one table with data")
    listed = sql.SQL(", ").join(t.identifier for t in tables)
    if fetch_one(source, "find_publication", name=name):
        source.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(name), listed))
    else:
        source.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(name), listed))


class SnapshotHolder:
    """Holds the run's exported snapshot: the temporary slot's replication session, kept open and idle.

    `connect` opens the replication session (psycopg.connect(..., replication="database", autocommit=True)).
    """

    def __init__(self, connect: Callable[[], psycopg.Connection], slot: str,
                 create_timeout_s: float = CREATE_TIMEOUT_S):
        self._connect = connect
        self.slot = slot
        self.create_timeout_s = create_timeout_s
        self.conn: psycopg.Connection | None = None
        self.exported: ExportedSnapshot | None = None

    def open(self) -> ExportedSnapshot:
        self.conn = self._connect()
        command = sql.SQL("CREATE_REPLICATION_SLOT {} TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')").format(
            sql.Identifier(self.slot))
        # the command waits for every running transaction on the source; cancel it past the bound
        timer = threading.Timer(self.create_timeout_s, self.conn.cancel_safe)
        timer.start()
        try:
            row = self.conn.execute(command).fetchone()
        except psycopg.errors.QueryCanceled as e:
            self.close()
            raise SlotError(f"creating the replication slot waited more than {self.create_timeout_s:.0f} s for "
                            f"transactions running on the source to end (see pg_stat_activity.xact_start); "
                            f"end them or raise slot_create_timeout_s") from e
        except BaseException:
            self.close()
            raise
        finally:
            timer.cancel()
        # slot_name, consistent_point, snapshot_name, output_plugin
        self.exported = ExportedSnapshot(row[0], po.lsn_int(row[1]), row[2])
        log.info("slot %s made at %s; snapshot %s exported and held", self.slot, row[1], row[2])
        return self.exported

    @property
    def alive(self) -> bool:
        return self.conn is not None and not self.conn.closed and not self.conn.broken

    def close(self):
        """Ends the session: the snapshot and the temporary slot go with it."""
        if self.conn is not None:
            self.conn.close()

    def __enter__(self) -> SnapshotHolder:
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()


def copy_to_permanent(source: psycopg.Connection, exported: ExportedSnapshot, permanent: str) -> int:
    """`permanent` made from the holder's live temporary slot, at its consistent point (asserted); the LSN.
    A copy an earlier try left (no session on it) is made again: it may come from another snapshot."""
    old = fetch_one(source, "show_replication_slot", slot=permanent)
    if old is not None:
        if old["active"]:
            raise SlotError(f"slot {permanent} exists and is in use (pid {old['active_pid']}): abort or clean up "
                            f"the run before loading again")
        source.execute("SELECT pg_drop_replication_slot(%s)", (permanent,))
    source.execute("SELECT pg_copy_logical_replication_slot(%s, %s, false)", (exported.slot, permanent))
    made = fetch_one(source, "show_replication_slot", slot=permanent)
    lsn = po.lsn_int(made["confirmed_flush_lsn"]) if made and made["confirmed_flush_lsn"] else None
    if made is None or made["temporary"] or lsn != exported.consistent_lsn:
        raise SlotError(f"the copy {permanent} of slot {exported.slot} does not start at the snapshot's consistent "
                        f"point {po.lsn_text(exported.consistent_lsn)} (it starts at "
                        f"{po.lsn_text(lsn) if lsn else 'nothing'}): changes would be lost or applied twice")
    return lsn


def wait_released(source: psycopg.Connection, slot: str, timeout_s: float = TERMINATE_WAIT_S) -> dict | None:
    """Wait until no session holds `slot`: a session that ends (a closed holder, a terminated backend) lets
    its slot go, and drops a temporary one, a moment later. The slot's row, or None when it is gone."""
    deadline = time.monotonic() + timeout_s
    while (row := fetch_one(source, "show_replication_slot", slot=slot)) and row["active"]:
        if time.monotonic() > deadline:
            raise SlotError(f"slot {slot} is still held by pid {row['active_pid']} {timeout_s:.0f} s after its "
                            f"session was ended")
        time.sleep(0.1)
    return row


def _drop_slot(source: psycopg.Connection, slot: str) -> bool:
    row = fetch_one(source, "show_replication_slot", slot=slot)
    if row is None:
        return False
    if row["active"]:
        # only a session of this run holds it (the holder, or an apply's peek): end it, then drop
        source.execute("SELECT pg_terminate_backend(%s)", (row["active_pid"],))
        if wait_released(source, slot) is None:
            return True      # a temporary slot goes with its session
    source.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    return True


def cleanup(source: psycopg.Connection, target: psycopg.Connection | None, names: RunNames) -> dict:
    """Remove the run's subscription, slots, publication and bookkeeping; assert each is gone. Safe to run
    again. The subscription goes first (detached from the slot, so its DROP leaves the slot alone), else its
    worker would take the slot again."""
    removed = {"subscription": target is not None and subscription.drop(target, names.subscription)}
    removed["slots"] = [s for s in (names.temporary_slot, names.slot) if _drop_slot(source, s)]
    removed["publication"] = drop_publication(source, names.publication)
    removed["bookkeeping"] = target is not None and remove_bookkeeping(target, names.slot)
    left = [s for s in (names.temporary_slot, names.slot) if fetch_one(source, "show_replication_slot", slot=s)]
    if fetch_one(source, "find_publication", name=names.publication):
        left.append(f"publication {names.publication}")
    if target is not None and subscription.find(target, names.subscription):
        left.append(f"subscription {names.subscription} on the target")
    if target is not None and bookkeeping_rows(target, names.slot):
        left.append(f"{ap.PROGRESS} row of {names.slot}")
    if target is not None and cb.watching(target, names.slot):
        left.append(f"watch triggers {' and '.join(cb.trigger_names(names.slot))} on the target")
    if left:
        raise SlotError(f"cleanup left {', '.join(left)} behind")
    log.info("removed subscription %s, slots %s, publication %s, bookkeeping %s",
             names.subscription if removed["subscription"] else "none", removed["slots"] or "none",
             names.publication if removed["publication"] else "none", removed["bookkeeping"])
    return removed


def drop_publication(source: psycopg.Connection, name: str) -> bool:
    """Drop the run's publication; whether there was one."""
    was = bool(fetch_one(source, "find_publication", name=name))
    source.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(name)))
    return was


def bookkeeping_rows(target: psycopg.Connection, slot: str) -> int:
    if not fetch(target, "list_existing_relations", schemas=[ap.SCHEMA]):
        return 0
    return target.execute(sql.SQL("SELECT count(*) FROM {} WHERE slot_name = %s").format(ap.PROGRESS.identifier),
                          (slot,)).fetchone()[0]


def remove_bookkeeping(target: psycopg.Connection, slot: str) -> bool:
    """The run's rows (progress, the pre-validation's) and its watch triggers; the schema too once no run has
    a row in it."""
    if not fetch(target, "list_existing_relations", schemas=[ap.SCHEMA]):
        return False
    with target.transaction():
        cb.unwatch(target, slot)
        for table in cb.RUN_TABLES:
            if target.execute("SELECT to_regclass(%s)", (str(table),)).fetchone()[0] is not None:
                target.execute(sql.SQL("DELETE FROM {} WHERE slot_name = %s").format(table.identifier), (slot,))
        target.execute(sql.SQL("DELETE FROM {} WHERE slot_name = %s").format(ap.PROGRESS.identifier), (slot,))
        if not target.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(ap.PROGRESS.identifier)).fetchone():
            target.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(ap.SCHEMA)))
    return True


def snapshot_gone(error: BaseException) -> bool:
    """Is this the error of importing a snapshot whose holder is gone?"""
    return isinstance(error, psycopg.Error) and "invalid snapshot identifier" in str(error)


HOLDER_GONE = ("the snapshot holder is gone (its task ended or its session broke), so this run's data can no "
               "longer be read at its starting point: clear the whole online_load group to load again from a new "
               "snapshot")


def import_snapshot(conn: psycopg.Connection, snapshot: str):
    """Begin, on an autocommit session, a REPEATABLE READ transaction that sees the exported snapshot; the
    caller ends it. A snapshot whose holder is gone fails with HOLDER_GONE."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    except psycopg.Error as e:
        conn.execute("ROLLBACK")
        if snapshot_gone(e):
            raise SlotError(HOLDER_GONE) from e
        raise
