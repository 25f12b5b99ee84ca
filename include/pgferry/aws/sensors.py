"""Sensors for the snapshot path: snapshot available (also "copy finished") and cluster available.

The provider's RdsSnapshotExistenceSensor polls a `failed` snapshot until its timeout and no RDS
sensor defers. These fail at once on a terminal state and, with `deferrable=True` (the default),
hand the wait to a trigger after one synchronous look, so no worker slot is held for the hours a
big snapshot, copy or restore takes. With `deferrable=False` they are ordinary sensors: use
`mode="reschedule"` then.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.hooks.rds import RdsHook
from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowFailException

from include.pgferry.aws.hooks import cluster_instances, find_cluster, find_snapshot

# States from which a snapshot, cluster or instance never becomes available on its own.
SNAPSHOT_FAILED_STATES = frozenset({"failed", "deleted", "deleting", "incompatible-restore",
                                    "incompatible-parameters", "error"})
DB_FAILED_STATES = frozenset({"failed", "deleted", "deleting", "incompatible-restore", "incompatible-parameters",
                              "incompatible-network", "inaccessible-encryption-credentials", "storage-full"})


def _int(value: Any) -> int:
    # Template fields may arrive rendered as strings.
    return int(value)


class RdsSensor(AwsBaseSensor[RdsHook]):
    """The provider's AWS base sensor on RdsHook, plus what every trigger needs to rebuild that hook."""

    aws_hook_class = RdsHook
    ui_color = "#eeaa88"

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name, "verify": self.verify,
                "botocore_config": self.botocore_config}


class RdsSnapshotAvailableSensor(RdsSensor):
    """Wait for DB snapshot `db_snapshot_identifier` in `region_name` to be `available`.

    Used twice in the DAG: for the snapshot of the source, and as "copy finished" for the copy in
    the target region (a copy is a snapshot whose status goes pending/copying -> available).

    :param db_snapshot_identifier: snapshot name (or ARN) in `region_name`
    :param purpose: how the log and errors name the snapshot ("snapshot", "copy")
    :param deferrable: wait in the triggerer (default True)
    :param waiter_delay: seconds between polls
    :param waiter_max_attempts: polls before giving up
    """

    template_fields: Sequence[str] = aws_template_fields("db_snapshot_identifier", "waiter_delay",
                                                         "waiter_max_attempts")

    def __init__(self, *, db_snapshot_identifier: str, purpose: str = "snapshot", deferrable: bool = True,
                 waiter_delay: int | str = 30, waiter_max_attempts: int | str = 2880, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_snapshot_identifier = db_snapshot_identifier
        self.purpose = purpose
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def _describe(self) -> dict[str, Any]:
        snapshot = find_snapshot(self.hook.conn, self.db_snapshot_identifier)
        if snapshot is None:
            raise AirflowFailException(
                f"{self.purpose} {self.db_snapshot_identifier} does not exist in {self.region_name}: "
                "clear the task that creates it")
        return snapshot

    def _fail(self, snapshot: dict[str, Any], detail: str = "") -> None:
        raise AirflowFailException(
            f"{self.purpose} {snapshot.get('DBSnapshotIdentifier', self.db_snapshot_identifier)} in {self.region_name} "
            f"is {snapshot.get('Status')!r} and will not become available{': ' + detail if detail else ''}. "
            "Delete it, then clear the task that created it to take a new one.")

    def poke(self, context: Any) -> bool:
        snapshot = self._describe()
        status = str(snapshot.get("Status", "")).lower()
        self.log.info("%s %s in %s: %s (%s%%)", self.purpose, self.db_snapshot_identifier, self.region_name, status,
                      snapshot.get("PercentProgress", "?"))
        if status in SNAPSHOT_FAILED_STATES:
            self._fail(snapshot)
        return status == "available"

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from include.pgferry.aws.triggers import RdsSnapshotAvailableTrigger

        delay, attempts = _int(self.waiter_delay), _int(self.waiter_max_attempts)
        self.defer(
            trigger=RdsSnapshotAvailableTrigger(db_snapshot_identifier=self.db_snapshot_identifier,
                                                waiter_delay=delay, waiter_max_attempts=attempts,
                                                **self.trigger_kwargs()),
            method_name="execute_complete",
            timeout=timedelta(seconds=delay * attempts),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        event = validate_execute_complete_event(event)
        if event.get("status") != "success":
            # Say what state it ended in, not only the waiter's words.
            self._fail(self._describe(), str(event.get("message", "")))
        self.log.info("%s %s is available", self.purpose, self.db_snapshot_identifier)


@dataclass
class ClusterState:
    cluster_status: str
    instance_status: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return (self.cluster_status == "available" and not self.missing
                and all(s == "available" for s in self.instance_status.values()))


class AuroraClusterAvailableSensor(RdsSensor):
    """Wait until a DB cluster and each of `db_instance_identifiers` in it are `available`.

    Deferred in two stages: the provider's RdsDbAvailableTrigger(db_type="cluster") for the cluster,
    then RdsClusterInstancesAvailableTrigger for its instances; each stage starts with one
    synchronous look, so an already-available cluster costs one describe.
    """

    template_fields: Sequence[str] = aws_template_fields("db_cluster_identifier", "db_instance_identifiers",
                                                         "waiter_delay", "waiter_max_attempts")

    def __init__(self, *, db_cluster_identifier: str, db_instance_identifiers: Sequence[str] | str = (),
                 deferrable: bool = True, waiter_delay: int | str = 30, waiter_max_attempts: int | str = 2880,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_cluster_identifier = db_cluster_identifier
        self.db_instance_identifiers = db_instance_identifiers
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def _state(self) -> ClusterState:
        conn = self.hook.conn
        cluster = find_cluster(conn, self.db_cluster_identifier)
        if cluster is None:
            raise AirflowFailException(f"DB cluster {self.db_cluster_identifier} does not exist in {self.region_name}")
        instances = cluster_instances(conn, self.db_cluster_identifier)
        state = ClusterState(str(cluster.get("Status", "")).lower(),
                             {i["DBInstanceIdentifier"]: str(i.get("DBInstanceStatus", "")).lower() for i in instances})
        state.missing = [i for i in self.db_instance_identifiers if i not in state.instance_status]
        self.log.info("cluster %s: %s; instances: %s%s", self.db_cluster_identifier, state.cluster_status,
                      state.instance_status or "none", f"; not yet listed: {state.missing}" if state.missing else "")
        if state.cluster_status in DB_FAILED_STATES:
            raise AirflowFailException(f"DB cluster {self.db_cluster_identifier} is {state.cluster_status!r}")
        failed = {i: s for i, s in state.instance_status.items() if s in DB_FAILED_STATES}
        if failed:
            raise AirflowFailException(f"instances of DB cluster {self.db_cluster_identifier} failed: {failed}")
        return state

    def poke(self, context: Any) -> bool:
        return self._state().available

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        return self._wait_or_defer(self._state())

    def _wait_or_defer(self, state: ClusterState) -> None:
        if state.available:
            self.log.info("cluster %s and its instances are available", self.db_cluster_identifier)
            return None
        delay, attempts = _int(self.waiter_delay), _int(self.waiter_max_attempts)
        if state.cluster_status != "available":
            from airflow.providers.amazon.aws.triggers.rds import RdsDbAvailableTrigger

            trigger: Any = RdsDbAvailableTrigger(db_identifier=self.db_cluster_identifier, waiter_delay=delay,
                                                 waiter_max_attempts=attempts, response={}, db_type="cluster",
                                                 **self.trigger_kwargs())
        elif state.missing:
            raise AirflowFailException(
                f"DB cluster {self.db_cluster_identifier} is available but has no instance {state.missing}: "
                "clear the task that creates it")
        else:
            from include.pgferry.aws.triggers import RdsClusterInstancesAvailableTrigger

            trigger = RdsClusterInstancesAvailableTrigger(db_cluster_identifier=self.db_cluster_identifier,
                                                          waiter_delay=delay, waiter_max_attempts=attempts,
                                                          **self.trigger_kwargs())
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=delay * attempts))

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        event = validate_execute_complete_event(event)
        if event.get("status") != "success":
            self._state()  # names a failed state when there is one
            raise AirflowFailException(f"waiting for DB cluster {self.db_cluster_identifier}: {event.get('message')}")
        # One stage done: look again, and defer for the next stage if there is one.
        return self._wait_or_defer(self._state())
