"""The wait until the apply has caught up: a deferrable trigger that reads the run's slot on the source and
the apply's progress row on the target.

`lag_verdict` judges one look (the same function a sensor or a test uses): a missing slot or one whose
WAL is lost fails at once (changes are lost to the run), a lag at or under `max_lag_bytes` is done, and
anything else is progress, logged as "apply lag X MB, Y s" with the slot's position and retained WAL.
Running out of looks gives a "timeout" event, never mistaken for a failure; a source it cannot reach
(restarting) is looked at again, a login it refuses fails. A slot that does not move for `stall_s`
seconds while behind fails it too (`stall_failure`): the apply is dead or stuck. Each event carries the last
look's measurements (`data`: lag_bytes, lag_seconds, retained_bytes), which the sensor pushes to XCom.

Lag in seconds (`lag_seconds`) is the age, on the source's clock, of the oldest source commit the apply
may not have applied yet: 0 when the slot has nothing pending (lag 0 bytes); otherwise the time since the
later of the last applied transaction's commit (pgoutput's Commit timestamp, recorded by the apply in the
same target transaction as its progress) and the last moment the apply saw everything the source had
flushed (`caught_up_at`). Everything committed before that moment is on the target, so no pending commit
is older: it is an upper bound, never an underestimate. None while the apply has recorded neither.

The trigger serializes connection ids only: it reads each connection itself (no secret in the trigger
table), and each look is one short, bounded session per side. Lives in include/: the triggerer imports
triggers by module path, outside DAG bundles.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.pgferry.pg.catalog import sql_text
from include.pgferry.polling import poll

STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_STALL_S = 900       # Param apply_stall_s: a slot unmoved this long while behind has no apply


@dataclass(frozen=True)
class LagVerdict:
    done: bool = False
    failed: str = ""
    progress: str = ""
    data: dict = field(default_factory=dict)


def lag_seconds(lag_bytes: int, looked_at: datetime | None, progress: dict | None) -> float | None:
    """Seconds the apply is behind (see the module's doc); None when it cannot be told yet."""
    if lag_bytes <= 0:
        return 0.0
    if looked_at is None or not progress:
        return None
    marks = [t for t in (progress.get("commit_time"), progress.get("caught_up_at")) if t is not None]
    if not marks:
        return None
    return round(max(0.0, (looked_at - max(marks)).total_seconds()), 1)


def lag_text(lag_bytes: int, seconds: float | None) -> str:
    return f"apply lag {lag_bytes / 1e6:.1f} MB, {'?' if seconds is None else f'{seconds:.0f}'} s"


def lag_verdict(row: dict | None, slot: str, max_lag_bytes: int, progress: dict | None = None) -> LagVerdict:
    if row is None:
        return LagVerdict(failed=f"the replication slot {slot} is gone from the source: changes are lost to this "
                                 f"run; abort it and start again")
    if row["wal_status"] == "lost":
        return LagVerdict(failed=f"the source removed WAL the slot {slot} still needed (wal_status lost): changes "
                                 f"are lost to this run; abort it and start again")
    lag = int(row["lag_bytes"] or 0)
    retained = int(row["retained_bytes"] or 0)
    seconds = lag_seconds(lag, row.get("looked_at"), progress)
    progress_text = (f"{lag_text(lag, seconds)} (slot {slot} at {row['confirmed_flush_lsn']}, "
                     f"{retained / 1e6:.0f} MB of WAL retained)")
    looked_at = row.get("looked_at")
    data = {"lag_bytes": lag, "lag_seconds": seconds, "retained_bytes": retained,
            "confirmed_flush_lsn": row["confirmed_flush_lsn"],
            "looked_at": looked_at.isoformat() if looked_at else None}
    return LagVerdict(done=lag <= max_lag_bytes, progress=progress_text, data=data)


def stall_failure(row: dict, moved_at: datetime | None, stall_s: float, slot: str) -> str:
    """The failure when the apply has stopped: the slot still behind (the caller judged it so) and its
    `confirmed_flush_lsn` unmoved since `moved_at` for at least `stall_s` seconds of the source's clock. A
    living apply moves it after every batch, also past WAL no chosen table wrote (a drained batch advances
    the slot to the source's flush position); a subscription's worker confirms as it applies. So a slot
    that stands still while behind has no apply: apply_changes died after its retries, or the subscription's
    worker keeps failing. '' while it is not so."""
    looked_at = row.get("looked_at")
    if moved_at is None or looked_at is None:
        return ""
    still = (looked_at - moved_at).total_seconds()
    if still < stall_s:
        return ""
    return (f"the apply has not moved the slot {slot} for {still:.0f} s (apply_stall_s {stall_s:g}) while "
            f"{int(row['lag_bytes'] or 0) / 1e6:.1f} MB behind: apply_changes is not running or is stuck (its log, "
            f"or with apply_engine subscription the target server's log, says why); clear apply_changes to start "
            f"it again, or abort the run")


class ApplyLagTrigger(BaseTrigger):
    """Wait until the slot `slot` on the source of `source_conn_id` is at most `max_lag_bytes` behind; the
    apply's progress on the target of `target_conn_id` (optional) gives the lag in seconds."""

    def __init__(self, *, source_conn_id: str, slot: str, max_lag_bytes: int, poke_s: int, max_looks: int,
                 target_conn_id: str | None = None, stall_s: float = DEFAULT_STALL_S) -> None:
        super().__init__()
        self.source_conn_id, self.target_conn_id, self.slot = source_conn_id, target_conn_id, slot
        self.max_lag_bytes, self.poke_s, self.max_looks = int(max_lag_bytes), int(poke_s), int(max_looks)
        self.stall_s = float(stall_s)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"source_conn_id": self.source_conn_id, "target_conn_id": self.target_conn_id, "slot": self.slot,
                 "max_lag_bytes": self.max_lag_bytes, "poke_s": self.poke_s, "max_looks": self.max_looks,
                 "stall_s": self.stall_s})

    async def _fetch_one(self, conn_id: str, query: str) -> dict | None:
        """One row of sql/<query>.sql, in a short session bounded by statement_timeout."""
        import psycopg
        from asgiref.sync import sync_to_async
        from psycopg.rows import dict_row

        from include.pgferry.pg.endpoint import PgEndpoint

        # the endpoint reads the Airflow connection (and an IAM token) synchronously
        ep = await sync_to_async(PgEndpoint.from_conn_id)(conn_id)
        bound = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        params = ep.libpq_params("pgferry lag", options=ep.server_options(bound))
        if ep.password:
            params["password"] = ep.password
        async with await psycopg.AsyncConnection.connect(autocommit=True, row_factory=dict_row, **params) as conn:
            cur = await conn.execute(sql_text(query), {"slot": self.slot})
            return await cur.fetchone()

    async def _look(self) -> dict | None:
        return await self._fetch_one(self.source_conn_id, "show_replication_slot")

    async def _progress(self) -> dict | None:
        """The apply's progress row; None before the apply has made its bookkeeping."""
        import psycopg
        if not self.target_conn_id:
            return None
        try:
            return await self._fetch_one(self.target_conn_id, "show_apply_progress")
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedColumn):
            return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import psycopg

        from include.pgferry.failures import permanent_reason

        moved = {"lsn": None, "at": None}      # where the slot stood, since when (the source's clock)

        async def look() -> LagVerdict:
            try:
                row = await self._look()
            except psycopg.OperationalError as e:
                # a source restarting or a dropped flow: look again; a refused login does not heal
                if reason := permanent_reason(e):
                    return LagVerdict(failed=f"cannot read the slot {self.slot} on the source: {e} ({reason})")
                return LagVerdict(progress=f"the source is unreachable ({str(e).strip()[:200]}): looking again")
            progress = await self._progress() if row and row["lag_bytes"] else None
            verdict = lag_verdict(row, self.slot, self.max_lag_bytes, progress)
            if verdict.failed or verdict.done:
                return verdict
            if row["confirmed_flush_lsn"] != moved["lsn"]:
                moved.update(lsn=row["confirmed_flush_lsn"], at=row.get("looked_at"))
            elif failed := stall_failure(row, moved["at"], self.stall_s, self.slot):
                return LagVerdict(failed=failed, data=verdict.data)
            return verdict
        yield TriggerEvent(await poll(look, self.max_looks, self.poke_s, self.log))
