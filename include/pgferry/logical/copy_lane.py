"""Task `copy_lane` (mapped, `parallelism` of them): the lanes take the run's units, largest first, from the
target's list (logical/claims.py), each unit in the transaction that loads it and marks it done, until none
is left; so the lanes end together whatever their speed.

Each unit clears its own rows first, in the transaction that loads it, so a retried lane never
duplicates; a block-range unit, whose rows cannot be found again on the target, records itself as loaded in
that transaction instead (logical/loaded_blocks.py). A unit marked done is never loaded again in the run.
When a table is complete (no unit of it left, any lane's) the lane whose commit completed it hands it to its
finisher, which builds its indexes and constraints and analyzes it while the lane copies on.

A retried lane first ends the target backends its earlier tries left alive, then says per unit what it
found there (logical/lane_retry.py). Lock waits on the target are bounded by Param lock_timeout_s
(pg/locks.py): a lock held by anyone but its sibling lanes fails the unit, naming table and holder.

A failed unit does not stop the lane, unless the lane has lost its peer: a session it cannot open again
(source or target) would cost every unit left the connect timeout, so the lane stops there (`LostPeer`).
"""
from __future__ import annotations

import logging
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import psycopg

from include.pgferry.logical import claims, copying, lane_retry, loaded_blocks, progress, table_finisher
from include.pgferry.logical.common import INDEX_SESSION, endpoints
from include.pgferry.model import Lane, Unit
from include.pgferry.failures import permanent_reason
from include.pgferry.pg import durability, locks, session_names
from include.pgferry.pg.endpoint import PgEndpoint

log = logging.getLogger("pgferry")


def lane_label(map_index: int, lanes: int | None = None) -> str:
    """How the UI names a mapped copy task: `lane 2 of 4` (no lane owns units: each takes the largest left)."""
    return f"lane {map_index + 1}" + (f" of {lanes}" if lanes else "")


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

    def loading(self, unit_no: int):
        """Name the target session for the unit it loads (its claim's number), so a later try knows what it
        was doing. Inside the unit's transaction: pg_stat_activity shows it at once."""
        if session_names.current() is not None:
            self.target.execute("SELECT set_config('application_name', %s, false)",
                                (session_names.session_name("copy", unit=unit_no),))

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
    not_tried: list[str]        # the run's units not done when the lane last looked, but its failed ones

    @property
    def reason(self) -> str:
        """The reconnect's error, first line (libpq's message: host and port, never a password)."""
        return first_line(self.error)

    def log(self):
        log.error("lost the %s %s (%s:%s): %s; this lane stops taking units, %d unit(s) not tried: %s",
                  self.side, self.endpoint.conn_id, self.endpoint.host, self.endpoint.port, self.reason,
                  len(self.not_tried), ", ".join(self.not_tried) or "none")

    def note(self, failed: list, copied: int) -> str:
        others = [u.id for u, _ in failed if u is not self.after]
        when = f"after unit {self.after.id}" if self.after else "before its first unit"
        return (f"pgferry: lost the {self.side} ({self.reason}) {when}: "
                f"stopped taking units; {len(self.not_tried)} unit(s) not tried "
                f"({', '.join(self.not_tried) or 'none'}) are left for the retry. "
                + (f"Failed before: {', '.join(others)}. " if others else "")
                + f"{copied} unit(s) were copied by it; the units not done are taken by the other lanes or this "
                f"lane's retry (each clears its rows first).")


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def lock_timeout_s(params: dict) -> float:
    return float(params.get("lock_timeout_s") or locks.LOCK_TIMEOUT_S)


def copy_lane(params: dict, lane: list[dict], snapshot: str | None = None, *, run: str | None = None,
              lane_index: int | None = None) -> list[dict]:
    """Copy units of the run until none is left (the lane's XCom form is its share as plan_lanes dealt it); the
    results of the units this lane loaded, as the report reads them.

    The lane takes the largest unit of the run that no lane has done or holds, from the target's list
    (logical/claims.py), inside the transaction that loads it and marks it done: a fast lane takes more, a
    slow one fewer, and the lanes end about together. The list is the Airflow run's (plus the online load's
    `snapshot`); `run` names another one, and outside Airflow (no task identity) a lane has a list of its
    own share. `lane_index` (default: the task's map index, -1 outside Airflow) is what the list records as
    the lane that loaded a unit. The lane writes its share into the list too (plan_lanes wrote every unit
    already; after finalize removed the list, a cleared lane loads its share again), checked by content.

    A unit that fails does not stop the lane: the lane goes on with the next unit (never the failed one
    again in this try; another lane may take it), and every table that loaded still gets its indexes and
    constraints, so one bad table costs no other table its keys. The lane then fails with the first unit's
    error, naming every failed unit; its retry takes what is left, the failed units among it. The units its
    earlier tries marked done are not loaded again: they are in the results, `already_loaded`, with the
    result of the try that loaded them. With `snapshot` (online mode) every unit reads the source under that
    exported snapshot (online/snapshot_read.py).

    A lane that has lost its peer stops taking units: when a session cannot be opened again (the source or
    the target refuses or does not answer the reconnect within the connect timeout), it takes no more, each
    of which would wait that bound again. The lane logs the side once, waits for its finisher and fails with
    the error that lost the peer (`LostPeer.note`); the units it did not take are left to the other lanes and
    its retry."""
    from include.pgferry.online.snapshot_read import under_snapshot
    share = list(Lane.from_xcom(lane).units)
    source_ep, target_ep = endpoints(params)
    identity = session_names.current()
    waits_for = (lambda holder: identity.is_sibling(holder.session)) if identity else None
    bound = lock_timeout_s(params)
    me = lane_index if lane_index is not None else (identity.map_index if identity else -1)
    try_number = identity.try_number if identity else 1
    run = run or claims.run_of(snapshot)
    own_list = run is None      # no task identity: a list of this call's own, removed when it ends
    run = run or claims.local_run()
    results, failed = [], []
    lost: LostPeer | None = None
    last: Unit | None = None
    with ExitStack() as stack:
        sessions = _Sessions(source_ep, target_ep, bound)
        stack.callback(sessions.close)
        finisher = stack.enter_context(table_finisher.TableFinisher(target_ep, INDEX_SESSION, bound, waits_for))
        sessions.ready()
        ended = []
        if identity is not None and identity.try_number > 1:
            ended = lane_retry.end_earlier_tries(sessions.target, identity)
        loaded_blocks.ensure(sessions.target)
        claims.register(sessions.target, run, share)
        found = lane_retry.RetryLog(identity, ended)
        earlier = claims.done_by(sessions.target, run, me, before_try=try_number) if try_number > 1 else []
        for d in earlier:
            found.done_before(d)
        left = claims.not_done(sessions.target, run)
        claim_failures = 0
        while True:
            try:
                sessions.ready()    # a no-op unless the unit before broke a session
            except psycopg.OperationalError as e:
                side, endpoint = sessions.lost
                lost = LostPeer(side, endpoint, e, last, [i for i in left if not any(i == u.id for u, _ in failed)])
                lost.log()
                break
            unit = None
            if claim_failures > 3:
                raise RuntimeError(f"could not take a unit from {claims.CLAIMS}: the target session broke "
                                   f"{claim_failures} times in a row")
            try:
                with sessions.target.transaction():
                    taken = claims.take(sessions.target, run, [u.id for u, _ in failed])
                    if taken is None:
                        break
                    unit, left = taken.unit, list(taken.left)
                    claim_failures = 0
                    last = unit
                    progress.take(unit.bytes)
                    sessions.loading(taken.no)
                    if not sessions.triggers_off:
                        copying.check_no_triggers(sessions.target, unit)
                    with under_snapshot(sessions.source, snapshot):
                        r = copying.copy_unit(sessions.source, sessions.target, unit, lock_timeout_s=bound,
                                              waits_for=waits_for, in_transaction=True,
                                              on_cleared=lambda n, u=unit, no=taken.no: found.cleared(u, no, n))
                    result = r.as_dict()
                    claims.mark_done(sessions.target, run, unit, me, try_number, result)
            except Exception as e:   # noqa: BLE001 -- re-raised after the lane's other tables are done
                if unit is None:
                    if sessions.target.broken or sessions.target.closed:
                        claim_failures += 1
                        continue    # the claim itself lost the target session: open it again, or stop
                    raise
                if isinstance(e, psycopg.errors.LockNotAvailable) and not sessions.target.broken:
                    named = copying.lock_wait_timeout(sessions.target, unit, bound)
                    named.__cause__ = e
                    e = named
                log.error("copy of %s failed: %s", unit.id, str(e).strip() or type(e).__name__)
                failed.append((unit, e))
                continue
            if r.already_loaded:
                found.already_loaded(unit, taken.no, r.rows)
            else:
                log.info("copied %s: %d rows, %.1f MB in %.1f s (%.1f MB/s)", r.id, r.rows, r.bytes / 1e6, r.seconds,
                         r.bytes / 1e6 / r.seconds if r.seconds else 0)
            # the table is complete when no unit of it is left (any lane's): the lane whose commit completed it
            # builds its indexes, while it copies the next unit
            try:
                if claims.finishes_table(sessions.target, run, unit, me, try_number):
                    finisher.submit(unit.target, list(unit.index_builds), result)
            except psycopg.OperationalError as e:    # the unit is in; its table is left to the keys step
                log.error("could not tell whether %s is complete: %s", unit.target, first_line(e))
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
        # the lane fails and its retry takes what is left, and a lost target would be waited for once more
        if results and not failed and lost is None:
            durability.flush_commits(sessions.ready().target)
        if own_list and lost is None:
            claims.forget(sessions.ready().target, run)
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
                       f"{', '.join(u.id for u, _ in failed)}; the other {len(results)} it took were copied and "
                       f"their tables finished. The failed units are left in {claims.CLAIMS} for the retry (or "
                       f"another lane): clear this task to load them again.")
        raise first
    return [{**d.result, "already_loaded": True, "loaded_by_try": d.try_number} for d in earlier] + results
