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

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.pgferry.aws.hooks import AWS_TEMPLATE_FIELDS, RdsHookMixin, error_code
from include.pgferry.aws.identifiers import snapshot_name_from

SNAPSHOT_NOT_FOUND = ("DBSnapshotNotFound", "DBSnapshotNotFoundFault")
CLUSTER_NOT_FOUND = ("DBClusterNotFoundFault", "DBClusterNotFound")
INSTANCE_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault")
# Copy states that still count against AWS's "one snapshot copy into each Region at a time".
COPY_IN_FLIGHT_STATES = frozenset({"pending", "creating", "copying"})


def _int(value: Any) -> int:
    return int(value)


def _tags(tags: Sequence[dict[str, str]] | dict[str, str] | None) -> list[dict[str, str]]:
    if not tags:
        return []
    if isinstance(tags, dict):
        return [{"Key": k, "Value": str(v)} for k, v in tags.items()]
    return [dict(t) for t in tags]


def describe_snapshot(conn: Any, identifier: str) -> dict[str, Any] | None:
    """A DB snapshot by name or ARN (of this client's account and Region), automated ones included;
    None when absent."""
    name = snapshot_name_from(identifier)  # RDS looks own snapshots up by name
    kwargs: dict[str, Any] = {"DBSnapshotIdentifier": name}
    if name.startswith("rds:"):
        kwargs["SnapshotType"] = "automated"  # RDS finds automated snapshots by name only so
    try:
        found = conn.describe_db_snapshots(**kwargs)["DBSnapshots"]
    except Exception as exc:
        if error_code(exc) in SNAPSHOT_NOT_FOUND:
            return None
        raise
    return found[0] if found else None


def describe_cluster(conn: Any, identifier: str) -> dict[str, Any] | None:
    try:
        found = conn.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    except Exception as exc:
        if error_code(exc) in CLUSTER_NOT_FOUND:
            return None
        raise
    return found[0] if found else None


def describe_instance(conn: Any, identifier: str) -> dict[str, Any] | None:
    try:
        found = conn.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except Exception as exc:
        if error_code(exc) in INSTANCE_NOT_FOUND:
            return None
        raise
    return found[0] if found else None


class RdsCreateDbSnapshotIfAbsentOperator(RdsHookMixin, BaseOperator):
    """Take manual snapshot `db_snapshot_identifier` of DB instance `db_instance_identifier`, unless it exists.

    An existing snapshot of the same instance is used as is (a retry, or a snapshot the user named);
    one of another instance is an error. Waiting is the job of RdsSnapshotAvailableSensor.
    Returns {"db_snapshot_identifier", "db_snapshot_arn", "created"}.
    """

    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "db_instance_identifier", "db_snapshot_identifier", "tags")
    ui_color = "#eeaa88"

    def __init__(self, *, db_instance_identifier: str, db_snapshot_identifier: str,
                 tags: Sequence[dict[str, str]] | dict | None = None, aws_conn_id: str | None = "aws_default",
                 region_name: str | None = None, verify: bool | str | None = None,
                 botocore_config: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_aws(aws_conn_id, region_name, verify, botocore_config)
        self.db_instance_identifier = db_instance_identifier
        self.db_snapshot_identifier = db_snapshot_identifier
        self.tags = tags

    def execute(self, context: Any) -> dict[str, Any]:
        conn = self.hook.conn
        snapshot = describe_snapshot(conn, self.db_snapshot_identifier)
        created = False
        if snapshot is None:
            self.log.info("creating snapshot %s of DB instance %s in %s", self.db_snapshot_identifier,
                          self.db_instance_identifier, self.region_name)
            try:
                snapshot = conn.create_db_snapshot(DBInstanceIdentifier=self.db_instance_identifier,
                                                   DBSnapshotIdentifier=self.db_snapshot_identifier,
                                                   Tags=_tags(self.tags))["DBSnapshot"]
                created = True
            except Exception as exc:
                if error_code(exc) not in ("DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault"):
                    raise
                snapshot = describe_snapshot(conn, self.db_snapshot_identifier)
                if snapshot is None:
                    raise
        if snapshot.get("DBInstanceIdentifier") != self.db_instance_identifier:
            raise AirflowFailException(
                f"snapshot {self.db_snapshot_identifier} is of DB instance {snapshot.get('DBInstanceIdentifier')}, "
                f"not {self.db_instance_identifier}")
        if not created:
            self.log.info("snapshot %s of %s already exists (%s): using it", snapshot["DBSnapshotIdentifier"],
                          self.db_instance_identifier, snapshot.get("Status"))
        return {"db_snapshot_identifier": snapshot["DBSnapshotIdentifier"],
                "db_snapshot_arn": snapshot.get("DBSnapshotArn", ""), "created": created}


class RdsCopyDbSnapshotIfAbsentOperator(RdsHookMixin, BaseOperator):
    """Copy DB snapshot `source_db_snapshot_identifier` from `source_region` into `region_name`, unless
    the copy exists already.

    AWS allows one snapshot copy into each Region at a time per account. Besides the Airflow pool the
    DAG puts this task in, the operator itself looks for copies still in flight into the target
    Region (started by anyone: another run, another Airflow, the console) and defers, re-checking
    every `waiter_delay` seconds, until none is left; the pool closes the gap between that check and
    the copy request. Waiting for the copy to finish is the job of RdsSnapshotAvailableSensor.

    `kms_key_id` is sent only when set (the provider's operator sends an empty KmsKeyId, which RDS
    and moto reject). Returns {"db_snapshot_identifier", "db_snapshot_arn", "created"}.
    """

    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "source_db_snapshot_identifier",
                                      "target_db_snapshot_identifier", "source_region", "kms_key_id", "tags",
                                      "waiter_delay", "waiter_max_attempts")
    ui_color = "#eeaa88"

    def __init__(self, *, source_db_snapshot_identifier: str, target_db_snapshot_identifier: str, source_region: str,
                 kms_key_id: str = "", tags: Sequence[dict[str, str]] | dict | None = None,
                 waiter_delay: int | str = 60, waiter_max_attempts: int | str = 1440,
                 aws_conn_id: str | None = "aws_default", region_name: str | None = None,
                 verify: bool | str | None = None, botocore_config: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_aws(aws_conn_id, region_name, verify, botocore_config)
        self.source_db_snapshot_identifier = source_db_snapshot_identifier
        self.target_db_snapshot_identifier = target_db_snapshot_identifier
        self.source_region = source_region
        self.kms_key_id = kms_key_id
        self.tags = tags
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def copies_in_flight(self) -> list[dict[str, Any]]:
        """Snapshot copies into this Region not finished yet, other than ours."""
        ours = self.target_db_snapshot_identifier.lower()
        busy = []
        for page in self.hook.conn.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
            for snap in page["DBSnapshots"]:
                is_copy = bool(snap.get("SourceRegion") or snap.get("SourceDBSnapshotIdentifier"))
                if (is_copy and str(snap.get("Status", "")).lower() in COPY_IN_FLIGHT_STATES
                        and snap["DBSnapshotIdentifier"].lower() != ours):
                    busy.append(snap)
        return busy

    def execute(self, context: Any, waiting_since: str | None = None) -> dict[str, Any]:
        conn = self.hook.conn
        existing = describe_snapshot(conn, self.target_db_snapshot_identifier)
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
                                   "SourceRegion": self.source_region, "Tags": _tags(self.tags)}
        if self.kms_key_id:
            request["KmsKeyId"] = self.kms_key_id
        self.log.info("copying snapshot %s from %s to %s as %s", source_arn, self.source_region, self.region_name,
                      self.target_db_snapshot_identifier)
        try:
            copy = conn.copy_db_snapshot(**request)["DBSnapshot"]
        except Exception as exc:
            if error_code(exc) not in ("DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault"):
                raise
            copy = describe_snapshot(conn, self.target_db_snapshot_identifier)
            if copy is None:
                raise
        return {"db_snapshot_identifier": copy["DBSnapshotIdentifier"],
                "db_snapshot_arn": copy.get("DBSnapshotArn", ""), "created": True}

    def _source_snapshot_arn(self) -> str:
        if self.source_db_snapshot_identifier.startswith("arn:"):
            return self.source_db_snapshot_identifier
        from include.pgferry.aws.hooks import rds_hook

        source_conn = rds_hook(self.aws_conn_id, self.source_region, self.verify, self.botocore_config).conn
        snapshot = describe_snapshot(source_conn, self.source_db_snapshot_identifier)
        if snapshot is None:
            raise AirflowFailException(
                f"snapshot {self.source_db_snapshot_identifier} does not exist in {self.source_region}")
        return snapshot["DBSnapshotArn"]

    def _wait_for_region(self, busy: list[dict[str, Any]], waiting_since: str | None) -> Any:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        now = datetime.now(timezone.utc)
        since = datetime.fromisoformat(waiting_since) if waiting_since else now
        delay, attempts = _int(self.waiter_delay), _int(self.waiter_max_attempts)
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


class RdsRestoreDbClusterFromSnapshotOperator(RdsHookMixin, BaseOperator):
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

    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "db_cluster_identifier", "snapshot_identifier",
                                      "engine", "engine_version", "port", "db_subnet_group_name",
                                      "vpc_security_group_ids", "kms_key_id", "tags", "rds_kwargs",
                                      "waiter_delay", "waiter_max_attempts")
    ui_color = "#eeaa88"

    def __init__(self, *, db_cluster_identifier: str, snapshot_identifier: str, engine: str = "aurora-postgresql",
                 engine_version: str = "", port: int | str | None = None, db_subnet_group_name: str = "",
                 vpc_security_group_ids: Sequence[str] | None = None, kms_key_id: str = "",
                 tags: Sequence[dict[str, str]] | dict | None = None, rds_kwargs: dict | None = None,
                 wait_for_completion: bool = True, deferrable: bool = True, waiter_delay: int | str = 30,
                 waiter_max_attempts: int | str = 2880, aws_conn_id: str | None = "aws_default",
                 region_name: str | None = None, verify: bool | str | None = None,
                 botocore_config: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_aws(aws_conn_id, region_name, verify, botocore_config)
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
                                   "Tags": _tags(self.tags), **self.rds_kwargs}
        optional = {"EngineVersion": self.engine_version, "DBSubnetGroupName": self.db_subnet_group_name,
                    "VpcSecurityGroupIds": list(self.vpc_security_group_ids or []), "KmsKeyId": self.kms_key_id,
                    "Port": int(self.port) if self.port not in (None, "") else None}
        request.update({k: v for k, v in optional.items() if v not in (None, "", [])})
        return request

    def execute(self, context: Any) -> dict[str, Any]:
        conn = self.hook.conn
        cluster = describe_cluster(conn, self.db_cluster_identifier)
        created = False
        if cluster is not None:
            self._check_is_ours(cluster)
            self.log.info("DB cluster %s already exists (%s): continuing with it", self.db_cluster_identifier,
                          cluster.get("Status"))
        else:
            snapshot = describe_snapshot(conn, self.snapshot_identifier)
            if snapshot is None:
                raise AirflowFailException(f"snapshot {self.snapshot_identifier} does not exist in {self.region_name}")
            request = self.restore_request(snapshot["DBSnapshotArn"])
            self.log.info("restoring DB cluster %s from %s: %s", self.db_cluster_identifier, snapshot["DBSnapshotArn"],
                          {k: v for k, v in request.items() if k not in ("Tags", "DBClusterIdentifier")})
            try:
                cluster = conn.restore_db_cluster_from_snapshot(**request)["DBCluster"]
                created = True
            except Exception as exc:
                if error_code(exc) not in ("DBClusterAlreadyExistsFault",):
                    raise
                cluster = describe_cluster(conn, self.db_cluster_identifier)
                if cluster is None:
                    raise
                self._check_is_ours(cluster)
        result = {"db_cluster_identifier": cluster["DBClusterIdentifier"], "db_cluster_arn": cluster.get("DBClusterArn", ""),
                  "status": cluster.get("Status", ""), "created": created}
        status = str(cluster.get("Status", "")).lower()
        if status == "available" or not (self.wait_for_completion or self.deferrable):
            return result
        delay, attempts = _int(self.waiter_delay), _int(self.waiter_max_attempts)
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
        wanted = {t["Key"]: t["Value"] for t in _tags(self.tags)}
        have = {t["Key"]: t["Value"] for t in cluster.get("TagList", [])}
        mismatched = {k: (have.get(k), v) for k, v in wanted.items() if k.startswith("pgferry:") and have.get(k) != v
                      and k != "pgferry:dag-run"}
        if cluster.get("Engine") != self.engine or mismatched:
            raise AirflowFailException(
                f"DB cluster {self.db_cluster_identifier} already exists in {self.region_name} and was not restored "
                f"by pgferry from this source (engine {cluster.get('Engine')}, tags differing: {mismatched}); "
                "choose another db_cluster_identifier")

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if event is None:
            raise AirflowException("trigger error: no event")
        if event.get("status") != "success":
            raise AirflowException(f"DB cluster {self.db_cluster_identifier} did not become available: {event}")
        return {**event.get("response", {}), "status": "available"}


class RdsCreateDbClusterInstancesOperator(RdsHookMixin, BaseOperator):
    """Create DB instances `db_instance_identifiers`, in order, in DB cluster `db_cluster_identifier`,
    each unless it exists.

    One task for the primary (a list of one, with its Availability Zone) and one for the replicas:
    the first instance created in a cluster becomes its writer, so the DAG runs them in that order.
    An existing instance is continued with when it belongs to that cluster, and refused otherwise.
    It does not wait: AuroraClusterAvailableSensor waits for the cluster and all its instances.
    Returns [{"db_instance_identifier", "status", "created"}, ...].
    """

    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "db_instance_identifiers", "db_cluster_identifier",
                                      "db_instance_class", "engine", "availability_zone", "publicly_accessible",
                                      "auto_minor_version_upgrade", "tags", "rds_kwargs")
    ui_color = "#eeaa88"

    def __init__(self, *, db_instance_identifiers: Sequence[str] | str, db_cluster_identifier: str,
                 db_instance_class: str, engine: str = "aurora-postgresql", availability_zone: str = "",
                 publicly_accessible: bool | str = False, auto_minor_version_upgrade: bool | str = True,
                 tags: Sequence[dict[str, str]] | dict | None = None, rds_kwargs: dict | None = None,
                 aws_conn_id: str | None = "aws_default", region_name: str | None = None,
                 verify: bool | str | None = None, botocore_config: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_aws(aws_conn_id, region_name, verify, botocore_config)
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
            "Tags": _tags(self.tags), **self.rds_kwargs}
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
        instance = describe_instance(conn, db_instance_identifier)
        created = False
        if instance is None:
            request = self.create_request(db_instance_identifier)
            self.log.info("creating DB instance %s in cluster %s: %s", db_instance_identifier,
                          self.db_cluster_identifier, {k: v for k, v in request.items() if k != "Tags"})
            try:
                instance = conn.create_db_instance(**request)["DBInstance"]
                created = True
            except Exception as exc:
                if error_code(exc) not in ("DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"):
                    raise
                instance = describe_instance(conn, db_instance_identifier)
                if instance is None:
                    raise
        if instance.get("DBClusterIdentifier") != self.db_cluster_identifier:
            raise AirflowFailException(
                f"DB instance {db_instance_identifier} already exists in {self.region_name} outside cluster "
                f"{self.db_cluster_identifier} (in {instance.get('DBClusterIdentifier') or 'no cluster'}); "
                "choose another db_cluster_identifier")
        if not created:
            self.log.info("DB instance %s already exists in cluster %s (%s): continuing with it",
                          db_instance_identifier, self.db_cluster_identifier, instance.get("DBInstanceStatus"))
        return {"db_instance_identifier": instance["DBInstanceIdentifier"],
                "status": instance.get("DBInstanceStatus", ""), "created": created}
