"""Task `copy_lane` (mapped, one per lane): each unit of the lane streamed with COPY, in turn.

Each unit clears its own rows first, in the transaction that loads it, so a retried lane never
duplicates; a block-range unit, whose rows cannot be found again on the target, records itself as loaded in
that transaction instead, and a retry skips it (logical/loaded_blocks.py). When a table is complete (its last unit; for a table cut into ranges, the last unit of all
lanes) the lane's finisher builds its indexes and constraints and analyzes it while the lane copies on.

A retried lane first ends the target backends its earlier tries left alive, then says per unit what it
found there (logical/lane_retry.py). Lock waits on the target are bounded by Param lock_timeout_s
(pg/locks.py): a lock held by anyone but its sibling lanes fails the unit, naming table and holder.

A failed unit does not stop the lane, unless the lane has lost its peer: a session it cannot open again
(source or target) would cost every unit left the connect timeout, so the lane stops there (`LostPeer`).
"""
from __future__ import annotations

import logging
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import psycopg

from include.pgferry.logical import copying, lane_retry, loaded_blocks, table_finisher
from include.pgferry.logical.common import INDEX_SESSION, endpoints
from include.pgferry.model import Lane, Unit
from include.pgferry.failures import permanent_reason
from include.pgferry.pg import durability, locks, session_names
from include.pgferry.pg.endpoint import PgEndpoint

log = logging.getLogger("pgferry")


def lane_label(lane: list[dict]) -> str:
    """How the UI names a mapped copy task: its biggest unit and how many follow."""
    return Lane.from_xcom(lane).label


class _Sessions:
    """The lane's source and target sessions, opened again after a unit broke one of them. A reopen that
    fails (psycopg.OperationalError) records which side it was in `lost`, before the error goes on."""

    def __init__(self, source_ep, target_ep, lock_timeout_s: float):
        self._source_ep, self._target_ep = source_ep, target_ep
        self._lock_timeout_s = lock_timeout_s
        self.source = self.target = None
        self.triggers_off = False
        self.lost: tuple[str, PgEndpoint] | None = None   # ("source" or "target", its endpoint)

    def ready(self):
        if self.source is None or self.source.broken or self.source.closed:
            self._close(self.source)
            with self._side("source", self._source_ep):
                self.source = self._source_ep.connect(autocommit=True, application_name="pgferry copy")
        if self.target is None or self.target.broken or self.target.closed:
            self._close(self.target)
            with self._side("target", self._target_ep):
                self.target = self._target_ep.connect(autocommit=True, application_name="pgferry copy")
                self.triggers_off = copying.open_target_session(self.target, self._lock_timeout_s)
        return self

    @contextmanager
    def _side(self, side: str, endpoint):
        try:
            yield
        except psycopg.OperationalError:
            self.lost = (side, endpoint)
            raise

    def loading(self, unit_index: int):
        """Name the target session for the unit it loads next, so a later try knows what it was doing."""
        if session_names.current() is not None:
            self.target.execute("SELECT set_config('application_name', %s, false)",
                                (session_names.session_name("copy", unit=unit_index),))

    @staticmethod
    def _close(conn):
        if conn is not None:
            conn.close()

    def close(self):
        self._close(self.source)
        self._close(self.target)


@dataclass
class LostPeer:
    """The lane could not open a session again: it stops taking units (`copy_lane`)."""
    side: str                   # "source" or "target"
    endpoint: PgEndpoint
    error: psycopg.OperationalError
    after: Unit | None          # the last unit the lane tried
    not_tried: list[Unit]

    @property
    def reason(self) -> str:
        """The reconnect's error, first line (libpq's message: host and port, never a password)."""
        return first_line(self.error)

    def log(self):
        log.error("lost the %s %s (%s:%s): %s; this lane stops taking units, %d unit(s) not tried: %s",
                  self.side, self.endpoint.conn_id, self.endpoint.host, self.endpoint.port, self.reason,
                  len(self.not_tried), ", ".join(u.id for u in self.not_tried) or "none")

    def note(self, failed: list, copied: int) -> str:
        others = [u.id for u, _ in failed if u is not self.after]
        when = f"after unit {self.after.id}" if self.after else "before its first unit"
        return (f"pgferry: lost the {self.side} ({self.reason}) {when}: "
                f"stopped taking units; {len(self.not_tried)} unit(s) not tried "
                f"({', '.join(u.id for u in self.not_tried) or 'none'}) are left for the retry. "
                + (f"Failed before: {', '.join(others)}. " if others else "")
                + f"{copied} unit(s) were copied; the retry loads every unit of the lane again (each clears its "
                f"rows first).")


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def lock_timeout_s(params: dict) -> float:
    return float(params.get("lock_timeout_s") or locks.LOCK_TIMEOUT_S)


def copy_lane(params: dict, lane: list[dict], snapshot: str | None = None) -> list[dict]:
    """Copy the lane (its XCom form); the units' results, as the report reads them.

    A unit that fails does not stop the lane: the units after it are still copied, and every table that
    loaded still gets its indexes and constraints, so one bad table costs no other table its keys. The lane
    then fails with the first unit's error, naming every failed unit; a retry loads every unit again (each
    clears its own rows first) and skips the builds that exist. With `snapshot` (online mode) every unit
    reads the source under that exported snapshot (online/snapshot_read.py).

    A lane that has lost its peer stops taking units: when a session cannot be opened again (the source or
    the target refuses or does not answer the reconnect within the connect timeout), the units left are not
    tried, each of which would wait that bound again. The lane logs the side once, waits for its finisher and
    fails with the error that lost the peer (`LostPeer.note`); the retry loads every unit."""
    from include.pgferry.online.snapshot_read import under_snapshot
    units = Lane.from_xcom(lane).units
    source_ep, target_ep = endpoints(params)
    identity = session_names.current()
    waits_for = (lambda holder: identity.is_sibling(holder.session)) if identity else None
    bound = lock_timeout_s(params)
    results, failed = [], []
    lost: LostPeer | None = None
    in_lane = Counter(u.target for u in units)
    remaining = Counter(in_lane)
    with ExitStack() as stack:
        sessions = _Sessions(source_ep, target_ep, bound)
        stack.callback(sessions.close)
        finisher = stack.enter_context(table_finisher.TableFinisher(target_ep, INDEX_SESSION, bound, waits_for))
        sessions.ready()
        if any(u.blocks is not None for u in units):
            loaded_blocks.ensure(sessions.target)
        ended = []
        if identity is not None and identity.try_number > 1:
            ended = lane_retry.end_earlier_tries(sessions.target, identity)
        found = lane_retry.RetryLog(identity, list(units), ended)
        for index, unit in enumerate(units, 1):
            table = unit.target
            split = unit.table_parts > 1
            try:
                sessions.ready()    # a no-op unless the unit before broke a session
            except psycopg.OperationalError as e:
                side, endpoint = sessions.lost
                lost = LostPeer(side, endpoint, e, units[index - 2] if index > 1 else None, list(units[index - 1:]))
                lost.log()
                break
            try:
                sessions.loading(index)
                if split and remaining[table] == in_lane[table]:
                    table_finisher.announce_part_loading(sessions.target, table)
                if not sessions.triggers_off:
                    copying.check_no_triggers(sessions.target, unit)
                with under_snapshot(sessions.source, snapshot):
                    r = copying.copy_unit(sessions.source, sessions.target, unit, lock_timeout_s=bound,
                                          waits_for=waits_for,
                                          on_cleared=lambda n, u=unit, i=index: found.cleared(u, i, n))
            except Exception as e:   # noqa: BLE001 -- re-raised after the lane's other tables are done
                log.error("copy of %s failed: %s", unit.id, str(e).strip() or type(e).__name__)
                failed.append((unit, e))
                continue
            if r.already_loaded:
                found.already_loaded(unit, index, r.rows)
            else:
                log.info("copied %s: %d rows, %.1f MB in %.1f s (%.1f MB/s)", r.id, r.rows, r.bytes / 1e6, r.seconds,
                         r.bytes / 1e6 / r.seconds if r.seconds else 0)
            result = r.as_dict()
            remaining[table] -= 1
            # the table is complete when this was its last unit (for a table cut into ranges: the last
            # unit of all lanes); its indexes are built while this lane copies the next table
            if remaining[table] == 0 and (not split or table_finisher.last_part_loaded(sessions.target, table)):
                finisher.submit(table, list(unit.index_builds), result)
            results.append(result)
        if lost is None:
            finisher.wait()
        else:
            # the tables handed over before are still finished where the target is there (a lost source);
            # the finisher's failures are named, and the lane fails for its lost peer, which a retry heals
            try:
                finisher.wait()
            except Exception as e:   # noqa: BLE001 -- the lane fails with the lost peer's error below
                log.error("finishing the tables of this lane failed too: %s", first_line(e))
        # the units committed asynchronously: on disk before the lane reports them done. Not when a unit failed:
        # the lane fails and its retry loads every unit again, and a lost target would be waited for once more
        if results and not failed and lost is None:
            durability.flush_commits(sessions.ready().target)
    if lost is not None:
        # the error that lost the peer: the failed unit's (the first error, unless an earlier unit failed for a
        # reason of its own), or the reconnect's when no unit failed on it or when the unit's error reads as one
        # no retry heals: the lane fails for its lost peer, and a retry may take the units left
        error = failed[-1][1] if failed and failed[-1][0] is lost.after else lost.error
        if permanent_reason(error) is not None:
            error = lost.error
        error.add_note(lost.note(failed, len(results)))
        raise error
    if failed:
        first = failed[0][1]
        first.add_note(f"pgferry: {len(failed)} unit(s) of this lane failed: "
                       f"{', '.join(u.id for u, _ in failed)}; the other {len(results)} were copied and their "
                       f"tables finished. Clear this task to load the failed ones again.")
        raise first
    return results
