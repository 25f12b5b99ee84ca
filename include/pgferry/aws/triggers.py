"""One polling trigger for every wait of the snapshot path: a snapshot (or copy) becoming available,
a cluster and its instances becoming available.

It asks RDS (aiobotocore, through the provider's RdsHook) every `waiter_delay` seconds and judges
each answer with the same functions the sensors use (aws/states.py), so a terminal state ends the
wait at once with a "failed" event naming it, and running out of attempts gives a "timeout" event,
never mistaken for a failure. Lives in include/ (not dags/): the triggerer imports triggers by
module path, outside DAG bundles.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.pgferry.aws.hooks import cluster_instances_async, find_cluster_async, find_snapshot_async
from include.pgferry.aws.states import Verdict, cluster_verdict, snapshot_verdict
from include.pgferry.polling import poll

SNAPSHOT, CLUSTER = "snapshot", "cluster"


class RdsAvailableTrigger(BaseTrigger):
    """Wait for a DB snapshot (`kind="snapshot"`) or a DB cluster and `instance_ids` in it (`kind="cluster"`)."""

    def __init__(self, *, kind: str, identifier: str, what: str = "", instance_ids: list[str] | None = None,
                 waiter_delay: int, waiter_max_attempts: int, aws_conn_id: str | None,
                 region_name: str | None = None, verify: bool | str | None = None,
                 botocore_config: dict | None = None) -> None:
        super().__init__()
        self.kind, self.identifier, self.what = kind, identifier, what or kind
        self.instance_ids = list(instance_ids or [])
        self.waiter_delay, self.waiter_max_attempts = int(waiter_delay), int(waiter_max_attempts)
        self.aws_conn_id, self.region_name, self.verify, self.botocore_config = (
            aws_conn_id, region_name, verify, botocore_config)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"kind": self.kind, "identifier": self.identifier, "what": self.what,
                 "instance_ids": self.instance_ids, "waiter_delay": self.waiter_delay,
                 "waiter_max_attempts": self.waiter_max_attempts, "aws_conn_id": self.aws_conn_id,
                 "region_name": self.region_name, "verify": self.verify, "botocore_config": self.botocore_config})

    async def _look(self, client: Any) -> Verdict:
        region = str(self.region_name)
        if self.kind == SNAPSHOT:
            return snapshot_verdict(await find_snapshot_async(client, self.identifier), self.what, self.identifier,
                                    region)
        return cluster_verdict(await find_cluster_async(client, self.identifier),
                               await cluster_instances_async(client, self.identifier), self.instance_ids,
                               self.identifier, region)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.providers.amazon.aws.hooks.rds import RdsHook

        hook = RdsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                       config=self.botocore_config)
        async with await hook.get_async_conn() as client:
            event = await poll(lambda: self._look(client), self.waiter_max_attempts, self.waiter_delay, self.log)
        if event["status"] == "timeout":
            event["waited_seconds"] = self.waiter_delay * max(0, self.waiter_max_attempts - 1)
        yield TriggerEvent(event)
