"""Waits of the snapshot path: snapshot available (also "copy finished") and cluster available.

The provider's RdsSnapshotExistenceSensor polls a `failed` snapshot until its timeout and no RDS
sensor defers. These judge every look with aws/states.py: a terminal state fails the task at once
(AirflowFailException: no retry, the message names the state and what to do); running out of time
is a timeout (AirflowException: the retry continues the same wait). With `deferrable=True` (the
default) they look once, then hand the wait to RdsAvailableTrigger, so no worker slot is held for
the hours a big snapshot, copy or restore takes. With `deferrable=False` they are ordinary sensors.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.pgferry.aws.hooks import (
    RdsHookParams,
    aws_template_fields,
    cluster_instances,
    find_cluster,
    find_snapshot,
    validate_event,
)
from include.pgferry.aws.states import Verdict, cluster_verdict, snapshot_verdict

# The task's own deferral timeout comes after the trigger's last look, so the trigger reports the
# timeout (with the last state) rather than Airflow's bare TaskDeferralTimeout.
DEFER_MARGIN = timedelta(minutes=10)


class AvailabilityWait:
    """Look, then wait in the triggerer; shared by the sensors and the restore operator."""

    waiter_delay: int | str
    waiter_max_attempts: int | str
    region_name: str | None
    log: Any

    def verdict(self) -> Verdict:
        raise NotImplementedError

    def trigger_args(self) -> dict[str, Any]:
        """RdsAvailableTrigger's kind/identifier/what/instance_ids for this wait."""
        raise NotImplementedError

    def trigger_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError  # RdsHookParams has it

    def judged(self) -> Verdict:
        verdict = self.verdict()
        self.log.info("%s", verdict.progress)
        if verdict.failed:
            raise AirflowFailException(verdict.failed)
        return verdict

    def defer_until_available(self, method_name: str = "execute_complete", kwargs: dict[str, Any] | None = None) -> None:
        from include.pgferry.aws.triggers import RdsAvailableTrigger

        delay, attempts = int(self.waiter_delay), int(self.waiter_max_attempts)
        self.defer(trigger=RdsAvailableTrigger(**self.trigger_args(), waiter_delay=delay,  # type: ignore[attr-defined]
                                               waiter_max_attempts=attempts, **self.trigger_kwargs()),
                   method_name=method_name, kwargs=kwargs,
                   timeout=timedelta(seconds=delay * attempts) + DEFER_MARGIN)

    def check_event(self, event: dict[str, Any] | None) -> None:
        """The trigger's verdict, as the task's outcome."""
        event = validate_event(event)
        status = event.get("status")
        if status == "failed":
            raise AirflowFailException(event.get("message"))
        if status == "timeout":
            hours = int(event.get("waited_seconds", 0)) / 3600
            raise AirflowException(
                f"timed out after {hours:.2f} h of waiting, last seen: {event.get('message')}. This is a timeout, "
                "not a failure: the retry continues the same wait (for a big snapshot raise wait_hours_per_tib or "
                "max_wait_hours)")
        if status != "success":
            raise AirflowException(f"unexpected trigger event: {event}")


class RdsSensor(RdsHookParams, AvailabilityWait, BaseSensorOperator):
    """A sensor with the AWS connection fields, a lazily built RdsHook and the look-then-defer wait."""

    ui_color = "#eeaa88"

    def __init__(self, *, deferrable: bool = True, waiter_delay: int | str = 30,
                 waiter_max_attempts: int | str = 2880, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def poke(self, context: Any) -> bool:
        return self.judged().done

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if not self.judged().done:
            self.defer_until_available()
        return None

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        self.check_event(event)
        self.judged()  # one synchronous look to confirm, and to log the final state


class RdsSnapshotAvailableSensor(RdsSensor):
    """Wait for DB snapshot `db_snapshot_identifier` in `region_name` to be `available`.

    Used twice in the DAG: for the snapshot of the source, and as "copy finished" for the copy in
    the target region (a copy is a snapshot whose status goes pending/copying -> available).
    Automated (`rds:`) snapshots are looked up with SnapshotType="automated", as RDS requires.

    :param db_snapshot_identifier: snapshot name (or ARN) in `region_name`
    :param purpose: how the log and errors name the snapshot ("snapshot", "snapshot copy")
    """

    template_fields: Sequence[str] = aws_template_fields("db_snapshot_identifier", "waiter_delay",
                                                         "waiter_max_attempts")

    def __init__(self, *, db_snapshot_identifier: str, purpose: str = "snapshot", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_snapshot_identifier = db_snapshot_identifier
        self.purpose = purpose

    def verdict(self) -> Verdict:
        return snapshot_verdict(find_snapshot(self.hook.conn, self.db_snapshot_identifier), self.purpose,
                                self.db_snapshot_identifier, str(self.region_name))

    def trigger_args(self) -> dict[str, Any]:
        return {"kind": "snapshot", "identifier": self.db_snapshot_identifier, "what": self.purpose}


class AuroraClusterAvailableSensor(RdsSensor):
    """Wait until a DB cluster and each of `db_instance_identifiers` in it are `available`; any of
    them in a terminal state (aws/states.py) fails the task at once."""

    template_fields: Sequence[str] = aws_template_fields("db_cluster_identifier", "db_instance_identifiers",
                                                         "waiter_delay", "waiter_max_attempts")

    def __init__(self, *, db_cluster_identifier: str, db_instance_identifiers: Sequence[str] | str = (),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_cluster_identifier = db_cluster_identifier
        self.db_instance_identifiers = db_instance_identifiers

    def _instance_ids(self) -> list[str]:
        ids = self.db_instance_identifiers
        return [ids] if isinstance(ids, str) else list(ids)

    def verdict(self) -> Verdict:
        conn = self.hook.conn
        return cluster_verdict(find_cluster(conn, self.db_cluster_identifier),
                               cluster_instances(conn, self.db_cluster_identifier), self._instance_ids(),
                               self.db_cluster_identifier, str(self.region_name))

    def trigger_args(self) -> dict[str, Any]:
        return {"kind": "cluster", "identifier": self.db_cluster_identifier, "instance_ids": self._instance_ids()}
