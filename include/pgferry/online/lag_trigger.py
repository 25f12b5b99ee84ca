"""The wait until the apply has caught up: a deferrable trigger that reads the run's slot on the source.

`lag_verdict` judges one look (the same function a sensor or a test uses): a missing slot or one whose
WAL is lost fails at once (changes are lost to the run), a lag at or under `max_lag_bytes` is done, and
anything else is progress, logged with its lag and retained WAL. Running out of looks gives a "timeout"
event, never mistaken for a failure; a source it cannot reach (restarting) is looked at again, a login it
refuses fails. The trigger serializes the connection id only: it reads the
connection itself (no secret in the trigger table), and each look is one short, bounded session.
Lives in include/: the triggerer imports triggers by module path, outside DAG bundles.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.pgferry.pg.catalog import sql_text
from include.pgferry.polling import poll

STATEMENT_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class LagVerdict:
    done: bool = False
    failed: str = ""
    progress: str = ""


def lag_verdict(row: dict | None, slot: str, max_lag_bytes: int) -> LagVerdict:
    if row is None:
        return LagVerdict(failed=f"the replication slot {slot} is gone from the source: changes are lost to this "
                                 f"run; abort it and start again")
    if row["wal_status"] == "lost":
        return LagVerdict(failed=f"the source removed WAL the slot {slot} still needed (wal_status lost): changes "
                                 f"are lost to this run; abort it and start again")
    lag = int(row["lag_bytes"] or 0)
    progress = (f"apply lag {lag / 1e6:.1f} MB (slot {slot} at {row['confirmed_flush_lsn']}, "
                f"{int(row['retained_bytes'] or 0) / 1e6:.0f} MB of WAL retained)")
    return LagVerdict(done=lag <= max_lag_bytes, progress=progress)


class ApplyLagTrigger(BaseTrigger):
    """Wait until the slot `slot` on the source of `source_conn_id` is at most `max_lag_bytes` behind."""

    def __init__(self, *, source_conn_id: str, slot: str, max_lag_bytes: int, poke_s: int, max_looks: int) -> None:
        super().__init__()
        self.source_conn_id, self.slot = source_conn_id, slot
        self.max_lag_bytes, self.poke_s, self.max_looks = int(max_lag_bytes), int(poke_s), int(max_looks)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"source_conn_id": self.source_conn_id, "slot": self.slot, "max_lag_bytes": self.max_lag_bytes,
                 "poke_s": self.poke_s, "max_looks": self.max_looks})

    async def _look(self) -> dict | None:
        import psycopg
        from asgiref.sync import sync_to_async
        from psycopg.rows import dict_row

        from include.pgferry.pg.endpoint import PgEndpoint

        # the endpoint reads the Airflow connection (and an IAM token) synchronously
        ep = await sync_to_async(PgEndpoint.from_conn_id)(self.source_conn_id)
        bound = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        params = ep.libpq_params("pgferry lag", options=ep.server_options(bound))
        if ep.password:
            params["password"] = ep.password
        async with await psycopg.AsyncConnection.connect(autocommit=True, row_factory=dict_row, **params) as conn:
            cur = await conn.execute(sql_text("show_replication_slot"), {"slot": self.slot})
            return await cur.fetchone()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import psycopg

        from include.pgferry.failures import permanent_reason

        async def look() -> LagVerdict:
            try:
                row = await self._look()
            except psycopg.OperationalError as e:
                # a source restarting or a dropped flow: look again; a refused login does not heal
                if reason := permanent_reason(e):
                    return LagVerdict(failed=f"cannot read the slot {self.slot} on the source: {e} ({reason})")
                return LagVerdict(progress=f"the source is unreachable ({str(e).strip()[:200]}): looking again")
            return lag_verdict(row, self.slot, self.max_lag_bytes)
        yield TriggerEvent(await poll(look, self.max_looks, self.poke_s, self.log))
