"""Triggers the amazon provider lacks: a DB snapshot becoming available, and every instance of a
cluster becoming available. Both are boto waiters run by the provider's AwsBaseWaiterTrigger, so a
terminal state (`failed`, `deleted`, `incompatible-*`) ends the wait at once with an error event
instead of polling until the timeout.

Lives in include/ (not dags/): the triggerer imports triggers by module path, outside DAG bundles.
"""
from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.rds import RdsHook
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger


class RdsSnapshotAvailableTrigger(AwsBaseWaiterTrigger):
    """Wait for a DB (instance) snapshot to be `available`; fail on `failed` and the other terminal states."""

    aws_hook_class = RdsHook

    def __init__(self, db_snapshot_identifier: str, waiter_delay: int, waiter_max_attempts: int,
                 aws_conn_id: str | None, region_name: str | None = None, verify: bool | str | None = None,
                 botocore_config: dict | None = None) -> None:
        super().__init__(
            serialized_fields={"db_snapshot_identifier": db_snapshot_identifier},
            waiter_name="db_snapshot_available",
            waiter_args={"DBSnapshotIdentifier": db_snapshot_identifier},
            failure_message=f"DB snapshot {db_snapshot_identifier} did not become available",
            status_message=f"DB snapshot {db_snapshot_identifier}",
            status_queries=["DBSnapshots[].Status", "DBSnapshots[].PercentProgress"],
            return_key="db_snapshot_identifier",
            return_value=db_snapshot_identifier,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )


class RdsClusterInstancesAvailableTrigger(AwsBaseWaiterTrigger):
    """Wait until every DB instance of a cluster is `available` (an empty cluster keeps waiting)."""

    aws_hook_class = RdsHook

    def __init__(self, db_cluster_identifier: str, waiter_delay: int, waiter_max_attempts: int,
                 aws_conn_id: str | None, region_name: str | None = None, verify: bool | str | None = None,
                 botocore_config: dict | None = None) -> None:
        filters: list[dict[str, Any]] = [{"Name": "db-cluster-id", "Values": [db_cluster_identifier]}]
        super().__init__(
            serialized_fields={"db_cluster_identifier": db_cluster_identifier},
            waiter_name="db_instance_available",
            waiter_args={"Filters": filters},
            failure_message=f"an instance of DB cluster {db_cluster_identifier} did not become available",
            status_message=f"instances of DB cluster {db_cluster_identifier}",
            status_queries=["DBInstances[].DBInstanceIdentifier", "DBInstances[].DBInstanceStatus"],
            return_key="db_cluster_identifier",
            return_value=db_cluster_identifier,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
