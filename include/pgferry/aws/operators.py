"""Create-if-absent RDS operators for the snapshot path.

The provider's create operators call create unconditionally, so a retry after a timeout meets
"already exists"; it has no operator at all for RestoreDBClusterFromSnapshot. Each operator here
first looks the resource up: present (from an earlier try) means "continue from there", absent means
"create it"; an "already exists" answer to the create (a race with another try) is treated the
same as finding it. Style follows the provider's operators/rds.py: identifiers templated,
`wait_for_completion` / `deferrable` / `waiter_delay` / `waiter_max_attempts`, and an
`execute_complete` that checks the trigger's event.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.amazon.aws.hooks.rds import RdsHook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.amazon.aws.utils.tags import format_tags
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.pgferry.aws.hooks import (
    CLUSTER_EXISTS,
    INSTANCE_EXISTS,
    SNAPSHOT_EXISTS,
    create_or_find,
    find_cluster,
    find_instance,
    find_snapshot,
    ownership_differences,
    same_identifier,
)

# Copy states that still count against AWS's limit on snapshot copies in flight into a Region.
COPY_IN_FLIGHT_STATES = frozenset({"pending", "creating", "copying"})


class RdsOperator(AwsBaseOperator[RdsHook]):
    """The provider's AWS base operator on RdsHook, plus what every trigger needs to rebuild that hook."""

    aws_hook_class = RdsHook
    ui_color = "#eeaa88"

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name, "verify": self.verify,
                "botocore_config": self.botocore_config}


class RdsCreateDbSnapshotIfAbsentOperator(RdsOperator):
    """Take manual snapshot `db_snapshot_identifier` of DB instance `db_instance_identifier`, unless it exists.

    An existing snapshot of the same instance is used as is (a retry, or a snapshot the user named);
    one of another instance is an error. Waiting is the job of RdsSnapshotAvailableSensor.
    Returns {"db_snapshot_identifier", "db_snapshot_arn", "created"}.
    """

    template_fields: Sequence[str] = aws_template_fields("db_instance_identifier", "db_snapshot_identifier", "tags")

    def __init__(self, *, db_instance_identifier: str, db_snapshot_identifier: str,
                 tags: Sequence[dict[str, str]] | dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_instance_identifier = db_instance_identifier
        self.db_snapshot_identifier = db_snapshot_identifier
        self.tags = tags

    def execute(self, context: Any) -> dict[str, Any]:
        conn = self.hook.conn
        snapshot, created = create_or_find(
            f"snapshot {self.db_snapshot_identifier} of DB instance {self.db_instance_identifier} in {self.region_name}",
            lambda: find_snapshot(conn, self.db_snapshot_identifier),
            lambda: conn.create_db_snapshot(DBInstanceIdentifier=self.db_instance_identifier,
                                            DBSnapshotIdentifier=self.db_snapshot_identifier,
                                            Tags=format_tags(self.tags))["DBSnapshot"],
            SNAPSHOT_EXISTS)
        if not same_identifier(snapshot.get("DBInstanceIdentifier"), self.db_instance_identifier):
            raise AirflowFailException(
                f"snapshot {self.db_snapshot_identifier} is of DB instance {snapshot.get('DBInstanceIdentifier')}, "
                f"not {self.db_instance_identifier}")
        if not created:
            self.log.info("snapshot %s of %s already exists (%s): using it", snapshot["DBSnapshotIdentifier"],
                          self.db_instance_identifier, snapshot.get("Status"))
        return {"db_snapshot_identifier": snapshot["DBSnapshotIdentifier"],
                "db_snapshot_arn": snapshot.get("DBSnapshotArn", ""), "created": created}


class RdsCopyDbSnapshotIfAbsentOperator(RdsOperator):
    """Copy DB snapshot `source_db_snapshot_identifier` from `source_region` into `region_name`, unless
    the copy exists already.

    AWS limits snapshot copies in flight into each Region per account. Besides the Airflow pool the
    DAG puts this task in, the operator itself looks for copies still in flight into the target
    Region (started by anyone: another run, another Airflow, the console) and defers, re-checking
    every `waiter_delay` seconds, until none is left; the pool closes the gap between that check and
    the copy request. Waiting for the copy to finish is the job of RdsSnapshotAvailableSensor.

    `kms_key_id` is sent only when set (the provider's operator sends an empty KmsKeyId, which RDS
    and moto reject). Returns {"db_snapshot_identifier", "db_snapshot_arn", "created"}.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "source_db_snapshot_identifier", "target_db_snapshot_identifier", "source_region", "kms_key_id", "tags",
        "waiter_delay", "waiter_max_attempts")

    def __init__(self, *, source_db_snapshot_identifier: str, target_db_snapshot_identifier: str, source_region: str,
                 kms_key_id: str = "", tags: Sequence[dict[str, str]] | dict | None = None,
                 waiter_delay: int | str = 60, waiter_max_attempts: int | str = 1440, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_db_snapshot_identifier = source_db_snapshot_identifier
        self.target_db_snapshot_identifier = target_db_snapshot_identifier
        self.source_region = source_region
        self.kms_key_id = kms_key_id
        self.tags = tags
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def copies_in_flight(self) -> list[dict[str, Any]]:
        """Snapshot copies into this Region not finished yet, other than ours."""
        busy = []
        for page in self.hook.conn.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
            for snap in page["DBSnapshots"]:
                is_copy = bool(snap.get("SourceRegion") or snap.get("SourceDBSnapshotIdentifier"))
                if (is_copy and str(snap.get("Status", "")).lower() in COPY_IN_FLIGHT_STATES
                        and not same_identifier(snap["DBSnapshotIdentifier"], self.target_db_snapshot_identifier)):
                    busy.append(snap)
        return busy

    def execute(self, context: Any, waiting_since: str | None = None) -> dict[str, Any]:
        conn = self.hook.conn
        existing = find_snapshot(conn, self.target_db_snapshot_identifier)
        if existing is not None:
            self.log.info("copy %s already exists in %s (%s): continuing with it",
                          self.target_db_snapshot_identifier, self.region_name, existing.get("Status"))
            return {"db_snapshot_identifier": existing["DBSnapshotIdentifier"],
                    "db_snapshot_arn": existing.get("DBSnapshotArn", ""), "created": False}

        busy = self.copies_in_flight()
        if busy:
            return self._wait_for_region(busy, waiting_since)

        source_arn = self._source_snapshot_arn()
        request: dict[str, Any] = {"SourceDBSnapshotIdentifier": source_arn,
                                   "TargetDBSnapshotIdentifier": self.target_db_snapshot_identifier,
                                   "SourceRegion": self.source_region, "Tags": format_tags(self.tags)}
        if self.kms_key_id:
            request["KmsKeyId"] = self.kms_key_id
        self.log.info("copying snapshot %s from %s to %s as %s", source_arn, self.source_region, self.region_name,
                      self.target_db_snapshot_identifier)
        copy, created = create_or_find(
            f"copy {self.target_db_snapshot_identifier} in {self.region_name}",
            lambda: find_snapshot(conn, self.target_db_snapshot_identifier),
            lambda: conn.copy_db_snapshot(**request)["DBSnapshot"], SNAPSHOT_EXISTS)
        return {"db_snapshot_identifier": copy["DBSnapshotIdentifier"],
                "db_snapshot_arn": copy.get("DBSnapshotArn", ""), "created": created}

    def _source_snapshot_arn(self) -> str:
        if self.source_db_snapshot_identifier.startswith("arn:"):
            return self.source_db_snapshot_identifier
        from include.pgferry.aws.hooks import rds_hook

        source_conn = rds_hook(self.aws_conn_id, self.source_region, self.verify, self.botocore_config).conn
        snapshot = find_snapshot(source_conn, self.source_db_snapshot_identifier)
        if snapshot is None:
            raise AirflowFailException(
                f"snapshot {self.source_db_snapshot_identifier} does not exist in {self.source_region}")
        return snapshot["DBSnapshotArn"]

    def _wait_for_region(self, busy: list[dict[str, Any]], waiting_since: str | None) -> Any:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        now = datetime.now(timezone.utc)
        since = datetime.fromisoformat(waiting_since) if waiting_since else now
        delay, attempts = int(self.waiter_delay), int(self.waiter_max_attempts)
        if now - since > timedelta(seconds=delay * attempts):
            raise AirflowException(
                f"gave up waiting for other snapshot copies into {self.region_name} to finish: "
                f"{[s['DBSnapshotIdentifier'] for s in busy]}")
        self.log.info("AWS allows one snapshot copy into %s at a time; waiting %ss for %s", self.region_name, delay,
                      ", ".join(f"{s['DBSnapshotIdentifier']} ({s.get('Status')})" for s in busy))
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=delay)), method_name="resume_after_wait",
                   kwargs={"waiting_since": since.isoformat()})

    def resume_after_wait(self, context: Any, event: Any = None, waiting_since: str | None = None) -> dict[str, Any]:
        return self.execute(context, waiting_since=waiting_since)


class RdsRestoreDbClusterFromSnapshotOperator(RdsOperator):
    """Restore DB cluster `db_cluster_identifier` from DB snapshot `snapshot_identifier`, unless it exists.

    The amazon provider has no operator for RestoreDBClusterFromSnapshot. The snapshot is looked up
    in `region_name` and the restore is requested with its ARN. A cluster that exists already is
    continued with when it was restored from the same snapshot (checked through its pgferry tags
    when present) and refused otherwise.

    :param snapshot_identifier: DB (instance) snapshot name or ARN in `region_name`
    :param engine: "aurora-postgresql"
    :param engine_version: Aurora version; "" lets RDS choose
    :param port, db_subnet_group_name, vpc_security_group_ids, kms_key_id, tags: as RDS takes them;
        empty values are not sent
    :param rds_kwargs: any other RestoreDBClusterFromSnapshot argument
    :param wait_for_completion: wait until the cluster is available (default True)
    :param deferrable: wait in the triggerer with RdsDbAvailableTrigger(db_type="cluster")
    Returns {"db_cluster_identifier", "db_cluster_arn", "status", "created"}.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "db_cluster_identifier", "snapshot_identifier", "engine", "engine_version", "port", "db_subnet_group_name",
        "vpc_security_group_ids", "kms_key_id", "tags", "rds_kwargs", "waiter_delay", "waiter_max_attempts")

    def __init__(self, *, db_cluster_identifier: str, snapshot_identifier: str, engine: str = "aurora-postgresql",
                 engine_version: str = "", port: int | str | None = None, db_subnet_group_name: str = "",
                 vpc_security_group_ids: Sequence[str] | None = None, kms_key_id: str = "",
                 tags: Sequence[dict[str, str]] | dict | None = None, rds_kwargs: dict | None = None,
                 wait_for_completion: bool = True, deferrable: bool = True, waiter_delay: int | str = 30,
                 waiter_max_attempts: int | str = 2880, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_cluster_identifier = db_cluster_identifier
        self.snapshot_identifier = snapshot_identifier
        self.engine = engine
        self.engine_version = engine_version
        self.port = port
        self.db_subnet_group_name = db_subnet_group_name
        self.vpc_security_group_ids = vpc_security_group_ids
        self.kms_key_id = kms_key_id
        self.tags = tags
        self.rds_kwargs = rds_kwargs or {}
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def restore_request(self, snapshot_arn: str) -> dict[str, Any]:
        request: dict[str, Any] = {"DBClusterIdentifier": self.db_cluster_identifier,
                                   "SnapshotIdentifier": snapshot_arn, "Engine": self.engine,
                                   "Tags": format_tags(self.tags), **self.rds_kwargs}
        optional = {"EngineVersion": self.engine_version, "DBSubnetGroupName": self.db_subnet_group_name,
                    "VpcSecurityGroupIds": list(self.vpc_security_group_ids or []), "KmsKeyId": self.kms_key_id,
                    "Port": int(self.port) if self.port not in (None, "") else None}
        request.update({k: v for k, v in optional.items() if v not in (None, "", [])})
        return request

    def _restore(self) -> dict[str, Any]:
        conn = self.hook.conn
        snapshot = find_snapshot(conn, self.snapshot_identifier)
        if snapshot is None:
            raise AirflowFailException(f"snapshot {self.snapshot_identifier} does not exist in {self.region_name}")
        request = self.restore_request(snapshot["DBSnapshotArn"])
        self.log.info("restoring DB cluster %s from %s: %s", self.db_cluster_identifier, snapshot["DBSnapshotArn"],
                      {k: v for k, v in request.items() if k not in ("Tags", "DBClusterIdentifier")})
        return conn.restore_db_cluster_from_snapshot(**request)["DBCluster"]

    def execute(self, context: Any) -> dict[str, Any]:
        conn = self.hook.conn
        cluster, created = create_or_find(f"DB cluster {self.db_cluster_identifier} in {self.region_name}",
                                          lambda: find_cluster(conn, self.db_cluster_identifier), self._restore,
                                          CLUSTER_EXISTS)
        if not created:
            self._check_is_ours(cluster)
            self.log.info("DB cluster %s already exists (%s): continuing with it", self.db_cluster_identifier,
                          cluster.get("Status"))
        result = {"db_cluster_identifier": cluster["DBClusterIdentifier"], "db_cluster_arn": cluster.get("DBClusterArn", ""),
                  "status": cluster.get("Status", ""), "created": created}
        status = str(cluster.get("Status", "")).lower()
        if status == "available" or not (self.wait_for_completion or self.deferrable):
            return result
        delay, attempts = int(self.waiter_delay), int(self.waiter_max_attempts)
        if self.deferrable:
            from airflow.providers.amazon.aws.triggers.rds import RdsDbAvailableTrigger

            self.defer(trigger=RdsDbAvailableTrigger(db_identifier=self.db_cluster_identifier, waiter_delay=delay,
                                                     waiter_max_attempts=attempts, response=result, db_type="cluster",
                                                     **self.trigger_kwargs()),
                       method_name="execute_complete", timeout=timedelta(seconds=delay * attempts))
        self.hook.wait_for_db_cluster_state(self.db_cluster_identifier, target_state="available",
                                            check_interval=delay, max_attempts=attempts)
        return {**result, "status": "available"}

    def _check_is_ours(self, cluster: dict[str, Any]) -> None:
        """Refuse to "continue" with a cluster that is something else under the same name."""
        mismatched = ownership_differences(cluster, self.tags or [])
        if cluster.get("Engine") != self.engine or mismatched:
            raise AirflowFailException(
                f"DB cluster {self.db_cluster_identifier} already exists in {self.region_name} and was not restored "
                f"by pgferry from this source (engine {cluster.get('Engine')}, tags differing: {mismatched}); "
                "choose another db_cluster_identifier")

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        event = validate_execute_complete_event(event)
        if event.get("status") != "success":
            raise AirflowException(f"DB cluster {self.db_cluster_identifier} did not become available: {event}")
        return {**event.get("response", {}), "status": "available"}


class RdsCreateDbClusterInstancesOperator(RdsOperator):
    """Create DB instances `db_instance_identifiers`, in order, in DB cluster `db_cluster_identifier`,
    each unless it exists.

    One task for the primary (a list of one, with its Availability Zone) and one for the replicas:
    the first instance created in a cluster becomes its writer, so the DAG runs them in that order.
    An existing instance is continued with when it belongs to that cluster, and refused otherwise.
    It does not wait: AuroraClusterAvailableSensor waits for the cluster and all its instances.
    Returns [{"db_instance_identifier", "status", "created"}, ...].
    """

    template_fields: Sequence[str] = aws_template_fields(
        "db_instance_identifiers", "db_cluster_identifier", "db_instance_class", "engine", "availability_zone",
        "publicly_accessible", "auto_minor_version_upgrade", "tags", "rds_kwargs")

    def __init__(self, *, db_instance_identifiers: Sequence[str] | str, db_cluster_identifier: str,
                 db_instance_class: str, engine: str = "aurora-postgresql", availability_zone: str = "",
                 publicly_accessible: bool | str = False, auto_minor_version_upgrade: bool | str = True,
                 tags: Sequence[dict[str, str]] | dict | None = None, rds_kwargs: dict | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_instance_identifiers = db_instance_identifiers
        self.db_cluster_identifier = db_cluster_identifier
        self.db_instance_class = db_instance_class
        self.engine = engine
        self.availability_zone = availability_zone
        self.publicly_accessible = publicly_accessible
        self.auto_minor_version_upgrade = auto_minor_version_upgrade
        self.tags = tags
        self.rds_kwargs = rds_kwargs or {}

    @staticmethod
    def _bool(value: Any) -> bool:
        return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")

    def create_request(self, db_instance_identifier: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "DBInstanceIdentifier": db_instance_identifier, "DBClusterIdentifier": self.db_cluster_identifier,
            "Engine": self.engine, "DBInstanceClass": self.db_instance_class,
            "PubliclyAccessible": self._bool(self.publicly_accessible),
            "AutoMinorVersionUpgrade": self._bool(self.auto_minor_version_upgrade),
            "Tags": format_tags(self.tags), **self.rds_kwargs}
        if self.availability_zone:
            request["AvailabilityZone"] = self.availability_zone
        return request

    def execute(self, context: Any) -> list[dict[str, Any]]:
        identifiers = ([self.db_instance_identifiers] if isinstance(self.db_instance_identifiers, str)
                       else list(self.db_instance_identifiers))
        if not identifiers:
            self.log.info("no instances to create in cluster %s", self.db_cluster_identifier)
        return [self._create_if_absent(identifier) for identifier in identifiers]

    def _create_if_absent(self, db_instance_identifier: str) -> dict[str, Any]:
        conn = self.hook.conn

        def create() -> dict[str, Any]:
            request = self.create_request(db_instance_identifier)
            self.log.info("creating DB instance %s in cluster %s: %s", db_instance_identifier,
                          self.db_cluster_identifier, {k: v for k, v in request.items() if k != "Tags"})
            return conn.create_db_instance(**request)["DBInstance"]

        instance, created = create_or_find(f"DB instance {db_instance_identifier} in {self.region_name}",
                                           lambda: find_instance(conn, db_instance_identifier), create,
                                           INSTANCE_EXISTS)
        if not same_identifier(instance.get("DBClusterIdentifier"), self.db_cluster_identifier):
            raise AirflowFailException(
                f"DB instance {db_instance_identifier} already exists in {self.region_name} outside cluster "
                f"{self.db_cluster_identifier} (in {instance.get('DBClusterIdentifier') or 'no cluster'}); "
                "choose another db_cluster_identifier")
        if not created:
            self.log.info("DB instance %s already exists in cluster %s (%s): continuing with it",
                          db_instance_identifier, self.db_cluster_identifier, instance.get("DBInstanceStatus"))
        return {"db_instance_identifier": instance["DBInstanceIdentifier"],
                "status": instance.get("DBInstanceStatus", ""), "created": created}
