"""What a copy lane finds of its earlier tries on the target, and says in its log.

A lane that runs again (a retry after a SIGKILL, a dropped flow or a lost worker, or a cleared task) finds
two kinds of leftovers:

- Backends of its earlier tries that are still alive. A blackholed flow or a lost worker leaves its target
  backend in its transaction, holding the unit's locks, until the server's keepalives end it; the retry
  would wait on them. At lane start every target session named for an earlier try of this lane (same run,
  task and map index, a lower try: pg/session_names.py) is ended with pg_terminate_backend (the same role
  may), and the log says what it was doing: pid, state and for how long, the unit it was loading and, from
  pg_stat_progress_copy (PostgreSQL 14+), how many uncommitted rows its COPY had taken, which the server
  rolls back.
- Units that earlier tries committed. Each unit loads in one transaction that takes it from the run's list
  of units, first clears the unit's rows (copying.py) and marks it done in the list (logical/claims.py), so
  a unit is all or nothing: done, with its rows, after the try that committed it; free again, with nothing
  of it on the target, after the try that was interrupted in it. A unit marked done is not taken again (the
  mark commits with the rows: it is exactly a unit loaded whole in this run), and the retry says so, one line
  per unit its earlier tries loaded. A unit taken and cleared says what the clear removed (DELETE's row
  count; a count before TRUNCATE): rows of an earlier run or plan, or of a load the list no longer
  records (finalize removed it).

A block range also records itself in logical/loaded_blocks.py along with its rows (its rows cannot be cleared
by range on the target), and a try that finds that record skips the unit and says so.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from psycopg import errors

from include.pgferry.logical.claims import CLAIMS
from include.pgferry.logical.loaded_blocks import LOADED
from include.pgferry.model import Unit
from include.pgferry.pg import session_names
from include.pgferry.pg.catalog import fetch, fetch_one
from include.pgferry.pg.session_names import TaskIdentity

log = logging.getLogger("pgferry")

GONE_WITHIN_S = 10.0        # how long an ended backend may take to exit (and free its locks)
COPY_PROGRESS_FROM = 140000  # pg_stat_progress_copy


@dataclass(frozen=True)
class EndedBackend:
    """A target backend of an earlier try, as it was when this try ended it."""
    pid: int
    try_number: int
    unit: int | None                   # the unit it was loading (its claim's number), if a copy session
    role: str
    state: str | None
    wait_event: str | None
    state_seconds: float | None
    transaction_seconds: float | None
    locked_tables: tuple[str, ...]
    copy_table: str | None             # the table its COPY was loading ...
    copy_rows: int | None              # ... and how many uncommitted rows it had taken
    ended: bool                        # pg_terminate_backend succeeded
    refusal: str | None = None         # why not, when it did not

    def describe(self) -> str:
        what = [f"pid {self.pid} of try {self.try_number} ({self.role})"]
        state = self.state or "state not visible"
        if self.wait_event:
            state += f", waiting on {self.wait_event}"
        if self.state_seconds is not None:
            state += f", for {self.state_seconds:.0f} s"
        what.append(state)
        if self.transaction_seconds is not None:
            what.append(f"in a transaction for {self.transaction_seconds:.0f} s")
        if self.locked_tables:
            what.append(f"holding locks on {', '.join(self.locked_tables)}")
        if self.copy_table is not None:
            what.append(f"its COPY into {self.copy_table} had taken {self.copy_rows} uncommitted rows, "
                        f"which the server rolls back")
        return "; ".join(what)


def end_earlier_tries(target: psycopg.Connection, identity: TaskIdentity, clock=time.monotonic,
                      sleep=time.sleep) -> list[EndedBackend]:
    """End the target backends of this lane's earlier tries (see the module's doc); what they were."""
    found = []
    for r in fetch(target, "list_pgferry_sessions"):
        name = session_names.parse(r["application_name"])
        if name is not None and identity.is_earlier_try_of_me(name):
            found.append((r, name))
    if not found:
        return []
    progress = {}
    if target.info.server_version >= COPY_PROGRESS_FROM:
        progress = {p["pid"]: p for p in fetch(target, "list_copy_progress")}
    ended = []
    for r, name in found:
        p = progress.get(r["pid"])
        ok, refusal = True, None
        try:
            ok = target.execute("SELECT pg_terminate_backend(%s)", (r["pid"],)).fetchone()[0]
        except errors.InsufficientPrivilege as e:
            ok, refusal = False, str(e).strip()
        if not ok and refusal is None:
            refusal = "it was gone already"
        ended.append(EndedBackend(
            pid=r["pid"], try_number=name.try_number, unit=name.unit, role=name.role or "session",
            state=r["state"], wait_event=r["wait_event"], state_seconds=r["state_seconds"],
            transaction_seconds=r["transaction_seconds"], locked_tables=tuple(r["locked_tables"] or ()),
            copy_table=f"{p['schema']}.{p['table']}" if p else None, copy_rows=p["rows"] if p else None,
            ended=ok, refusal=refusal))
    _wait_until_gone(target, [e.pid for e in ended if e.ended], clock, sleep)
    for e in ended:
        if e.ended:
            log.warning("%s: ended the target backend %s", _label(identity), e.describe())
        else:
            log.warning("%s: could not end the target backend %s: %s; a lock it holds fails this try after "
                        "Param lock_timeout_s, naming it", _label(identity), e.describe(), e.refusal)
    return ended


def _wait_until_gone(target: psycopg.Connection, pids: list[int], clock, sleep):
    """pg_terminate_backend only signals: wait (bounded) until the backends have exited and freed their locks."""
    deadline = clock() + GONE_WITHIN_S
    while pids and clock() < deadline:
        if not fetch_one(target, "count_live_backends", pids=pids)["n"]:
            return
        sleep(0.05)


def _label(identity: TaskIdentity | None) -> str:
    if identity is None:
        return "copy lane"
    return f"{identity.task_label} try {identity.try_number}"


def describe_unit(unit: Unit) -> str:
    """`unit app.events [2/3] (rows 133334 <= id < 266667)`."""
    text = f"unit {unit.id}"
    r = unit.range
    b = unit.blocks
    if b is not None:
        text += f" (blocks {b.lo}.." + ("end)" if b.hi is None else f"{b.hi - 1})")
    if r is not None:
        if r.lo is not None and r.hi is not None:
            text += f" (rows {r.lo} <= {r.column} < {r.hi})"
        elif r.lo is not None:
            text += f" (rows {r.column} >= {r.lo})"
        elif r.hi is not None:
            text += f" (rows {r.column} < {r.hi})"
    if str(unit.target) != str(unit.source):
        text += f" into {unit.target}"
    return text


class RetryLog:
    """One line per unit of what this try found of it: rows removed, an earlier try's load rolled back, or
    nothing; and one per unit an earlier try of this lane marked done (skipped). On a first try only a unit
    that held rows gets a line (the target was not empty)."""

    def __init__(self, identity: TaskIdentity | None, ended: list[EndedBackend]):
        self._identity = identity
        self._ended = {e.unit: e for e in ended if e.ended and e.unit is not None}

    @property
    def retry(self) -> bool:
        return self._identity is not None and self._identity.try_number > 1

    def line(self, unit: Unit, no: int, removed: int) -> str | None:
        """`no`: the unit's claim number (logical/claims.py), which names a session loading it."""
        what = describe_unit(unit)
        orphan = self._ended.get(no)
        rolled_back = ""
        if orphan is not None:
            rows = f"{orphan.copy_rows} uncommitted rows" if orphan.copy_rows is not None else "an uncommitted load"
            rolled_back = f"; try {orphan.try_number}'s {rows} of it rolled back (its backend pid {orphan.pid} was ended)"
        if not self.retry:
            if not removed:
                return None
            return f"{_label(self._identity)}: {what}: found {removed} rows already there, removed them before copying"
        if removed:
            return (f"retry, {_label(self._identity)}: {what}: found {removed} rows from an earlier try, removed "
                    f"them before copying again{rolled_back}")
        return f"retry, {_label(self._identity)}: {what}: nothing there from an earlier try{rolled_back}"

    def already_loaded(self, unit: Unit, no: int, rows: int):
        """A block range an earlier try committed (its record found): skipped."""
        log.info("%s%s: %s: loaded by an earlier try (%d rows, recorded in %s), skipped",
                 "retry, " if self.retry else "", _label(self._identity), describe_unit(unit), rows, LOADED)

    def done_before(self, done):
        """A unit an earlier try of this lane loaded and marked done (claims.Done): not taken again."""
        log.info("retry, %s: unit %s: loaded by try %d (%s rows, marked done in %s), skipped", _label(self._identity),
                 done.unit_id, done.try_number, done.result.get("rows"), CLAIMS)

    def cleared(self, unit: Unit, no: int, removed: int):
        text = self.line(unit, no, removed)
        if text is not None:
            log.info("%s", text)
