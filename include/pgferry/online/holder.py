"""The body of the `hold_snapshot` task: make the starting point, hold it while the load reads
under it, then hand over to the permanent slot.

1. Open the holder (online/slot.py) and publish the exported snapshot at once (the task pushes it to
   XCom: structure and every copy lane read it from there).
2. Every `poke_s`, on a second session (never on the holder's, which must run no other command): the
   temporary slot must still be held (else the holder's session died: the load cannot go on), the WAL it
   retains must stay under `max_retained_bytes`, and the wait under `max_hold_s`.
3. Once `load_done()` says every reader finished, copy the slot into the permanent one (asserted at the
   consistent point), then close the holder.

Whatever ends it, the holder is closed, so its temporary slot never outlives the task. The clock and the
pause are given, so a test decides how time passes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg

from include.pgferry.online import pgoutput as po
from include.pgferry.online.follow import SlotState, check_retained
from include.pgferry.online.slot import HOLDER_GONE, ExportedSnapshot, SlotError, SnapshotHolder, copy_to_permanent
from include.pgferry.pg.catalog import fetch_one

log = logging.getLogger("pgferry")


def _held(watch: psycopg.Connection, slot: str) -> SlotState:
    row = fetch_one(watch, "show_replication_slot", slot=slot)
    if row is None or not row["active"]:
        raise SlotError(HOLDER_GONE)
    return SlotState(po.lsn_int(row["confirmed_flush_lsn"]), int(row["lag_bytes"] or 0),
                     int(row["retained_bytes"] or 0), row["wal_status"])


def hold(holder: SnapshotHolder, watch: psycopg.Connection, permanent: str, *,
         publish: Callable[[ExportedSnapshot], None], load_done: Callable[[], bool],
         max_retained_bytes: int | None, max_hold_s: float, poke_s: float,
         clock: Callable[[], float], pause: Callable[[float], None]) -> dict:
    """Hold the snapshot until the load is done; the permanent slot's starting point, as XCom."""
    started = clock()
    try:
        exported = holder.open()
        publish(exported)
        while True:
            state = _held(watch, holder.slot)
            check_retained(state, max_retained_bytes, holder.slot)
            if load_done():
                lsn = copy_to_permanent(watch, exported, permanent)
                log.info("load done: slot %s starts at %s, after %.0f s under the snapshot", permanent,
                         po.lsn_text(lsn), clock() - started)
                return {"slot": permanent, "consistent_lsn": po.lsn_text(lsn), "snapshot": exported.snapshot,
                        "held_s": round(clock() - started, 1)}
            if clock() - started > max_hold_s:
                raise SlotError(f"the load did not finish within {max_hold_s:.0f} s of the snapshot: the snapshot "
                                f"was released (it holds back vacuum on the source); clear online_load to start "
                                f"again")
            log.info("holding snapshot %s: %.0f MB of WAL retained", exported.snapshot, state.retained_bytes / 1e6)
            pause(poke_s)
    finally:
        holder.close()
