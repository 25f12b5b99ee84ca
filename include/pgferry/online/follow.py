"""Following the source after the load: how far behind the apply is, the WAL the run's slot keeps, and
applying through a given LSN (the cutover's freeze point).

Lag is measured on the source, from the slot: `pg_current_wal_insert_lsn() - confirmed_flush_lsn`, which the
apply moves only after the target committed (online/apply.py). A slot that is gone or whose WAL was
removed (`wal_status = 'lost'`, past max_slot_wal_keep_size) means changes are lost to this run: that
fails loudly, never silently restarts elsewhere.

Waits take their pause as a function (`pause`), so tests and tasks choose how a wait passes; every loop
is bounded by a number of batches.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from include.pgferry.online import pgoutput as po
from include.pgferry.online.apply import ApplyError, ApplyWorker
from include.pgferry.pg.catalog import fetch_one

log = logging.getLogger("pgferry")


class FollowError(RuntimeError):
    pass


@dataclass(frozen=True)
class SlotState:
    confirmed_lsn: int
    lag_bytes: int          # WAL written since the apply's last confirmed position
    retained_bytes: int     # WAL the slot keeps on the source (from its restart_lsn)
    wal_status: str


def slot_state(source: psycopg.Connection, slot: str) -> SlotState:
    row = fetch_one(source, "show_replication_slot", slot=slot)
    if row is None:
        raise ApplyError(f"the replication slot {slot} is gone from the source: changes since it was made are lost "
                         f"to this run; abort it and start the online migration again")
    if row["wal_status"] == "lost":
        raise ApplyError(f"the source removed WAL the slot {slot} still needed (wal_status lost, see "
                         f"max_slot_wal_keep_size): changes are lost to this run; abort it and start again")
    return SlotState(po.lsn_int(row["confirmed_flush_lsn"]), int(row["lag_bytes"] or 0),
                     int(row["retained_bytes"] or 0), row["wal_status"])


def check_retained(state: SlotState, max_retained_bytes: int | None, slot: str):
    """Fail the run before the slot fills the source's disk (Param max_retained_wal_bytes)."""
    if max_retained_bytes and state.retained_bytes > max_retained_bytes:
        raise FollowError(f"slot {slot} keeps {state.retained_bytes / 1e6:.0f} MB of WAL on the source, more than "
                          f"max_retained_wal_bytes ({max_retained_bytes / 1e6:.0f} MB): abort the run (which drops "
                          f"the slot), or raise the Param if the source has the room")


def current_lsn(source: psycopg.Connection) -> int:
    """The source's WAL insert position: past every commit so far. (pg_current_wal_lsn is only where WAL
    has been written to, which an asynchronous commit may not have reached yet.)"""
    return po.lsn_int(source.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0])


def apply_through(worker: ApplyWorker, lsn: int, *, max_batches: int, pause: Callable[[], None]) -> int:
    """Apply batches until the slot stands at or past `lsn` (every transaction that committed before it is
    on the target); the transactions applied. Between batches that found nothing new, `pause()`."""
    applied = 0
    for _ in range(max_batches):
        result = worker.batch()
        applied += result.applied
        if result.advanced_to is not None and result.advanced_to >= lsn:
            log.info("applied through %s (%d transaction(s) in this wait)", po.lsn_text(lsn), applied)
            return applied
        if result.applied == 0 and result.drained:
            pause()         # the source has not flushed up to `lsn` yet
    raise FollowError(f"the apply did not reach {po.lsn_text(lsn)} in {max_batches} batches "
                      f"({applied} transaction(s) applied meanwhile)")


def follow_until_freeze(worker: ApplyWorker, freeze_lsn: Callable[[], int | None], *, max_batches: int,
                        pause: Callable[[], None], on_batch: Callable[[SlotState], None] = lambda s: None) -> dict:
    """The body of the `apply_changes` task: apply batch after batch while the source takes writes,
    until the cutover has frozen the source (`freeze_lsn()` gives its LSN, None before) and everything up
    to that LSN is applied. After each batch `on_batch` sees the slot (the task logs lag and checks the
    retained WAL there). Restartable: a killed run is taken over by the next, which skips what was applied."""
    applied = 0
    for _ in range(max_batches):
        frozen = freeze_lsn()
        result = worker.batch()
        applied += result.applied
        state = slot_state(worker.source, worker.slot)
        on_batch(state)
        if frozen is not None and state.confirmed_lsn >= frozen:
            log.info("applied through the freeze point %s: %d transaction(s) in this run", po.lsn_text(frozen),
                     applied)
            # the counts over every try of the apply (its progress row), for the run report
            p = result.progress
            return {"applied": applied, "freeze_lsn": po.lsn_text(frozen),
                    "progress": po.lsn_text(p.commit_lsn) if p else None,
                    "transactions": p.transactions if p else 0, "row_changes": p.changes if p else 0}
        if result.applied == 0 and result.drained:
            pause()
    raise FollowError(f"apply_changes stopped after {max_batches} batches without reaching the freeze point; "
                      f"its retry goes on from where it stopped")
