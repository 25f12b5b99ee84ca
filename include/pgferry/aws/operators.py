"""Create-or-find RDS operators for the snapshot path.

The provider's create operators call create unconditionally, so a retry after a timeout meets
"already exists"; it has no operator at all for RestoreDBClusterFromSnapshot. Each operator here
first looks the resource up (aws/hooks.py `create_or_find`): present from an earlier try means
"continue from there", but only after checking by content that it is what this run asks for (a
copy of exactly this source snapshot; a cluster of this source, restored from this snapshot, with
these settings; instances in this cluster with these settings); otherwise the task fails naming
every difference. Style follows the provider's operators/rds.py: identifiers templated, the
hook and AWS fields as the provider's AwsBaseOperator has them, waits deferred with an `execute_complete` that checks the event.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.pgferry.aws.hooks import (
    CLUSTER_EXISTS,
    INSTANCE_EXISTS,
    SNAPSHOT_EXISTS,
    SNAPSHOT_TAG,
    SOURCE_TAG,
    RdsHookParams,
    aws_template_fields,
    copy_source_arn,
    create_or_find,
    error_code,
    find_cluster,
    find_instance,
    find_snapshot,
    format_tags,
    tag_map,
    is_copy_of,
    is_ours,
    restored_from,
    same_identifier,
    same_snapshot,
)
from include.pgferry.aws.sensors import AvailabilityWait
from include.pgferry.aws.settings import (
    CLUSTER_FIELDS,
    INSTANCE_FIELDS,
    differences,
    encryption_difference,
    instance_request,
    restore_request,
)
from include.pgferry.aws.states import Verdict, cluster_verdict

# Copy states that still count against AWS's limit on snapshot copies in flight into a Region.
COPY_IN_FLIGHT_STATES = frozenset({"pending", "creating", "copying"})
# What RDS answers when a copy would exceed a snapshot or copy quota: wait and try again.
QUOTA_CODES = frozenset({"SnapshotQuotaExceeded", "SnapshotQuotaExceededFault", "DBSnapshotQuotaExceeded",
                         "CopySnapshotQuotaExceeded", "LimitExceeded", "LimitExceededException"})


class RdsOperator(RdsHookParams, BaseOperator):
    """An operator with the AWS connection fields and a lazily built RdsHook (aws/hooks.RdsHookParams)."""

    ui_color = "#eeaa88"


def _wanted_tag(tags: Any, key: str) -> str:
    return next((t["Value"] for t in format_tags(tags or []) if t["Key"] == key), "")


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
    a copy of exactly that snapshot exists there already under the target name.

    A snapshot of the target name that is not a copy of this source snapshot (SourceDBSnapshotIdentifier)
    is refused, naming both. AWS limits snapshot copies in flight into each Region per account (the
    seed: one at a time; AWS's current documentation: 20). The operator counts copies still in flight
    into its target Region (started by anyone: another run, another Airflow, the console) and defers,
    re-checking every `waiter_delay` seconds, while `max_copies_in_flight` or more are; a quota error
    from RDS (SnapshotQuotaExceeded and the like) is met the same way, by waiting and asking again,
    up to `waiter_delay * waiter_max_attempts` in all. The DAG's pool closes the gap between the count
    and the request. Waiting for the copy to finish is the job of RdsSnapshotAvailableSensor.

    `kms_key_id` is sent only when set (the provider's operator sends an empty KmsKeyId, which RDS
    and moto reject). Returns {"db_snapshot_identifier", "db_snapshot_arn", "created"}.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "source_db_snapshot_identifier", "target_db_snapshot_identifier", "source_region", "kms_key_id", "tags",
        "max_copies_in_flight", "waiter_delay", "waiter_max_attempts")

    def __init__(self, *, source_db_snapshot_identifier: str, target_db_snapshot_identifier: str, source_region: str,
                 kms_key_id: str = "", tags: Sequence[dict[str, str]] | dict | None = None,
                 max_copies_in_flight: int | str = 1, waiter_delay: int | str = 60,
                 waiter_max_attempts: int | str = 1440, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_db_snapshot_identifier = source_db_snapshot_identifier
        self.target_db_snapshot_identifier = target_db_snapshot_identifier
        self.source_region = source_region
        self.kms_key_id = kms_key_id
        self.tags = tags
        self.max_copies_in_flight = max_copies_in_flight
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

    def _result(self, copy: dict[str, Any], created: bool) -> dict[str, Any]:
        return {"db_snapshot_identifier": copy["DBSnapshotIdentifier"],
                "db_snapshot_arn": copy.get("DBSnapshotArn", ""), "created": created}

    def _check_is_copy_of(self, copy: dict[str, Any], source_arn: str) -> None:
        if not is_copy_of(copy, source_arn):
            raise AirflowFailException(
                f"a snapshot named {copy['DBSnapshotIdentifier']} exists in {self.region_name} but is not a copy of "
                f"{source_arn} (it is {'a copy of ' + copy_source_arn(copy) if copy_source_arn(copy) else 'no copy'}, "
                f"of DB instance {copy.get('DBInstanceIdentifier')}): delete or rename it, or choose another snapshot")

    def execute(self, context: Any, waiting_since: str | None = None) -> dict[str, Any]:
        conn = self.hook.conn
        source_arn = self._source_snapshot_arn()
        existing = find_snapshot(conn, self.target_db_snapshot_identifier)
        if existing is not None:
            self._check_is_copy_of(existing, source_arn)
            self.log.info("copy %s of %s already exists in %s (%s): continuing with it",
                          self.target_db_snapshot_identifier, source_arn, self.region_name, existing.get("Status"))
            return self._result(existing, False)

        busy = self.copies_in_flight()
        limit = int(self.max_copies_in_flight)
        if len(busy) >= limit:
            allowed = "one snapshot copy" if limit == 1 else f"{limit} snapshot copies"
            return self._wait(waiting_since, f"max_copies_in_flight_per_region allows {allowed} into {self.region_name} "
                                             "at a time; waiting for " + ", ".join(
                                                 f"{s['DBSnapshotIdentifier']} ({s.get('Status')})" for s in busy))

        request: dict[str, Any] = {"SourceDBSnapshotIdentifier": source_arn,
                                   "TargetDBSnapshotIdentifier": self.target_db_snapshot_identifier,
                                   "SourceRegion": self.source_region, "Tags": format_tags(self.tags)}
        if self.kms_key_id:
            request["KmsKeyId"] = self.kms_key_id
        self.log.info("copying snapshot %s from %s to %s as %s", source_arn, self.source_region, self.region_name,
                      self.target_db_snapshot_identifier)
        try:
            copy, created = create_or_find(
                f"copy {self.target_db_snapshot_identifier} in {self.region_name}",
                lambda: find_snapshot(conn, self.target_db_snapshot_identifier),
                lambda: conn.copy_db_snapshot(**request)["DBSnapshot"], SNAPSHOT_EXISTS)
        except Exception as exc:
            if error_code(exc) not in QUOTA_CODES:
                raise
            return self._wait(waiting_since, f"RDS refused the copy for a quota ({error_code(exc)}: {exc}); backing off")
        if not created:
            self._check_is_copy_of(copy, source_arn)
        return self._result(copy, created)

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

    def _wait(self, waiting_since: str | None, why: str) -> Any:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        now = datetime.now(timezone.utc)
        since = datetime.fromisoformat(waiting_since) if waiting_since else now
        delay, attempts = int(self.waiter_delay), int(self.waiter_max_attempts)
        if now - since > timedelta(seconds=delay * attempts):
            raise AirflowException(f"timed out after {(now - since).total_seconds() / 3600:.2f} h before the copy "
                                   f"could start: {why}. The retry waits again")
        self.log.info("%s; next try in %ss", why, delay)
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=delay)), method_name="resume_after_wait",
                   kwargs={"waiting_since": since.isoformat()})

    def resume_after_wait(self, context: Any, event: Any = None, waiting_since: str | None = None) -> dict[str, Any]:
        return self.execute(context, waiting_since=waiting_since)


def _refuse(what: str, region: str | None, found: list[str], fix: str) -> None:
    raise AirflowFailException(f"{what} already exists in {region} but differs from what this run asks for: "
                               + "; ".join(found) + f". pgferry does not modify it: {fix}")


class RdsRestoreDbClusterFromSnapshotOperator(RdsOperator, AvailabilityWait):
    """Restore DB cluster `db_cluster_identifier` from DB snapshot `snapshot_identifier`, unless it exists.

    The amazon provider has no operator for RestoreDBClusterFromSnapshot. The snapshot is looked up
    in `region_name` and the restore is requested with its ARN, which is recorded on the cluster
    (tag pgferry:restored-from-snapshot). A cluster that exists already is continued with only when
    it is of this source (pgferry:source-db-instance tag), was restored from this snapshot and has
    every setting this run asks for; otherwise the task fails listing every difference.

    :param snapshot_identifier: DB (instance) snapshot name or ARN in `region_name`
    :param engine: "aurora-postgresql"
    :param engine_version: Aurora version; "" lets RDS choose
    :param port, db_subnet_group_name, vpc_security_group_ids, kms_key_id, tags: as RDS takes them;
        empty values are not sent
    :param encrypted_at_rest: whether the cluster must be encrypted (compared on an existing cluster)
    :param rds_kwargs: other RestoreDBClusterFromSnapshot arguments (aws/settings.py CLUSTER_SETTINGS)
    :param wait_for_completion: wait until the cluster is available (default True), deferred to
        RdsAvailableTrigger when `deferrable`
    Returns {"db_cluster_identifier", "db_cluster_arn", "status", "created"}.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "db_cluster_identifier", "snapshot_identifier", "engine", "engine_version", "port", "db_subnet_group_name",
        "vpc_security_group_ids", "kms_key_id", "encrypted_at_rest", "tags", "rds_kwargs", "waiter_delay",
        "waiter_max_attempts")

    def __init__(self, *, db_cluster_identifier: str, snapshot_identifier: str, engine: str = "aurora-postgresql",
                 engine_version: str = "", port: int | str | None = None, db_subnet_group_name: str = "",
                 vpc_security_group_ids: Sequence[str] | None = None, kms_key_id: str = "",
                 encrypted_at_rest: bool | str | None = None,
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
        self.encrypted_at_rest = encrypted_at_rest
        self.tags = tags
        self.rds_kwargs = rds_kwargs or {}
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def restore_request(self, snapshot_arn: str) -> dict[str, Any]:
        tags = [t for t in format_tags(self.tags or []) if t["Key"] != SNAPSHOT_TAG]
        return restore_request(db_cluster_identifier=self.db_cluster_identifier, snapshot_arn=snapshot_arn,
                               engine=self.engine, engine_version=self.engine_version, port=self.port,
                               db_subnet_group_name=self.db_subnet_group_name,
                               vpc_security_group_ids=self.vpc_security_group_ids, kms_key_id=self.kms_key_id,
                               tags=[*tags, {"Key": SNAPSHOT_TAG, "Value": snapshot_arn}], settings=self.rds_kwargs)

    def _restore(self) -> dict[str, Any]:
        conn = self.hook.conn
        snapshot = find_snapshot(conn, self.snapshot_identifier)
        if snapshot is None:
            raise AirflowFailException(f"snapshot {self.snapshot_identifier} does not exist in {self.region_name}")
        request = self.restore_request(snapshot["DBSnapshotArn"])
        self.log.info("restoring DB cluster %s from %s: %s", self.db_cluster_identifier, snapshot["DBSnapshotArn"],
                      {k: v for k, v in request.items() if k not in ("Tags", "DBClusterIdentifier")})
        return conn.restore_db_cluster_from_snapshot(**request)["DBCluster"]

    def check_existing(self, cluster: dict[str, Any]) -> None:
        """Refuse to "continue" with a cluster that is something else under the same name, or another
        restore, or one with other settings."""
        source_arn = _wanted_tag(self.tags, SOURCE_TAG)
        if cluster.get("Engine") != self.engine or not is_ours(cluster, source_arn):
            raise AirflowFailException(
                f"DB cluster {self.db_cluster_identifier} already exists in {self.region_name} and was not restored "
                f"by pgferry from {source_arn or 'this source'} (engine {cluster.get('Engine')}, "
                f"{SOURCE_TAG}={tag_map(cluster).get(SOURCE_TAG, '')!r}); "
                "choose another db_cluster_identifier")
        recorded = restored_from(cluster)
        if not recorded or not same_snapshot(recorded, self.snapshot_identifier):
            raise AirflowFailException(
                f"DB cluster {self.db_cluster_identifier} was restored from {recorded or 'an unrecorded snapshot'}, "
                f"this run restores from {self.snapshot_identifier}: run with snapshot_identifier naming the "
                "cluster's snapshot, or choose another db_cluster_identifier")
        request = self.restore_request(recorded)
        found, unverifiable = differences(request, cluster, CLUSTER_FIELDS)
        if self.encrypted_at_rest not in (None, ""):
            found += encryption_difference(str(self.encrypted_at_rest).lower() in ("true", "1"), cluster)
        if found:
            _refuse(f"DB cluster {self.db_cluster_identifier}", self.region_name, found,
                    "run again with the cluster's settings, or choose another db_cluster_identifier")
        if unverifiable:
            self.log.info("not compared (RDS did not return them): %s", ", ".join(unverifiable))

    def execute(self, context: Any) -> dict[str, Any]:
        conn = self.hook.conn
        cluster, created = create_or_find(f"DB cluster {self.db_cluster_identifier} in {self.region_name}",
                                          lambda: find_cluster(conn, self.db_cluster_identifier), self._restore,
                                          CLUSTER_EXISTS)
        if not created:
            self.check_existing(cluster)
            self.log.info("DB cluster %s already exists (%s): continuing with it", self.db_cluster_identifier,
                          cluster.get("Status"))
        result = {"db_cluster_identifier": cluster["DBClusterIdentifier"],
                       "db_cluster_arn": cluster.get("DBClusterArn", ""), "created": created}
        if not self.wait_for_completion:
            return {**result, "status": cluster.get("Status", "")}
        # Judge the answer just received (restore or describe), then wait in the triggerer.
        first = cluster_verdict(cluster, [], [], self.db_cluster_identifier, str(self.region_name))
        self.log.info("%s", first.progress)
        if first.failed:
            raise AirflowFailException(first.failed)
        if first.done:
            return {**result, "status": "available"}
        if self.deferrable:
            self.defer_until_available(kwargs={"created": created})
        import time

        for _ in range(int(self.waiter_max_attempts)):
            time.sleep(int(self.waiter_delay))
            if self.judged().done:
                return {**result, "status": "available"}
        raise AirflowException(f"timed out waiting for DB cluster {self.db_cluster_identifier}: the retry continues")

    def verdict(self) -> Verdict:
        conn = self.hook.conn
        return cluster_verdict(find_cluster(conn, self.db_cluster_identifier), [], [], self.db_cluster_identifier,
                               str(self.region_name))

    def trigger_args(self) -> dict[str, Any]:
        return {"kind": "cluster", "identifier": self.db_cluster_identifier}

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None,
                         created: bool = False) -> dict[str, Any]:
        self.check_event(event)
        cluster = find_cluster(self.hook.conn, self.db_cluster_identifier) or {}
        return {"db_cluster_identifier": cluster.get("DBClusterIdentifier", self.db_cluster_identifier),
                "db_cluster_arn": cluster.get("DBClusterArn", ""), "created": bool(created), "status": "available"}


class RdsCreateDbClusterInstancesOperator(RdsOperator):
    """Create DB instances `instances`, in order, in DB cluster `db_cluster_identifier`, each unless it exists.

    `instances`: [{"db_instance_identifier", "availability_zone", "promotion_tier"}, ...] (AZ and tier
    optional). One task for the primary and one for the replicas: the first instance created in a
    cluster becomes its writer, so the DAG runs them in that order. An existing instance is continued
    with when it belongs to that cluster and has the settings asked for; otherwise the task fails
    naming the differences. It does not wait: AuroraClusterAvailableSensor waits for them all.
    Returns [{"db_instance_identifier", "status", "created"}, ...].
    """

    template_fields: Sequence[str] = aws_template_fields(
        "instances", "db_cluster_identifier", "db_instance_class", "engine", "publicly_accessible",
        "auto_minor_version_upgrade", "tags", "rds_kwargs")

    def __init__(self, *, instances: Sequence[dict[str, Any]] | dict[str, Any], db_cluster_identifier: str,
                 db_instance_class: str, engine: str = "aurora-postgresql", publicly_accessible: bool | str = False,
                 auto_minor_version_upgrade: bool | str = True, tags: Sequence[dict[str, str]] | dict | None = None,
                 rds_kwargs: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instances = instances
        self.db_cluster_identifier = db_cluster_identifier
        self.db_instance_class = db_instance_class
        self.engine = engine
        self.publicly_accessible = publicly_accessible
        self.auto_minor_version_upgrade = auto_minor_version_upgrade
        self.tags = tags
        self.rds_kwargs = rds_kwargs or {}

    def create_request(self, instance: dict[str, Any]) -> dict[str, Any]:
        return instance_request(db_instance_identifier=instance["db_instance_identifier"],
                                db_cluster_identifier=self.db_cluster_identifier, engine=self.engine,
                                db_instance_class=self.db_instance_class, publicly_accessible=self.publicly_accessible,
                                auto_minor_version_upgrade=self.auto_minor_version_upgrade,
                                availability_zone=instance.get("availability_zone") or "",
                                promotion_tier=instance.get("promotion_tier"), tags=format_tags(self.tags or []),
                                settings=self.rds_kwargs)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        instances = [self.instances] if isinstance(self.instances, dict) else list(self.instances)
        if not instances:
            self.log.info("no instances to create in cluster %s", self.db_cluster_identifier)
        return [self._create_or_continue(instance) for instance in instances]

    def _create_or_continue(self, wanted: dict[str, Any]) -> dict[str, Any]:
        conn = self.hook.conn
        identifier = wanted["db_instance_identifier"]
        request = self.create_request(wanted)

        def create() -> dict[str, Any]:
            self.log.info("creating DB instance %s in cluster %s: %s", identifier, self.db_cluster_identifier,
                          {k: v for k, v in request.items() if k != "Tags"})
            return conn.create_db_instance(**request)["DBInstance"]

        instance, created = create_or_find(f"DB instance {identifier} in {self.region_name}",
                                           lambda: find_instance(conn, identifier), create, INSTANCE_EXISTS)
        if not same_identifier(instance.get("DBClusterIdentifier"), self.db_cluster_identifier):
            raise AirflowFailException(
                f"DB instance {identifier} already exists in {self.region_name} outside cluster "
                f"{self.db_cluster_identifier} (in {instance.get('DBClusterIdentifier') or 'no cluster'}); "
                "choose another db_cluster_identifier")
        if not created:
            found, _ = differences(request, instance, INSTANCE_FIELDS)
            if found:
                _refuse(f"DB instance {identifier}", self.region_name, found,
                        "run again with the instance's settings, or delete the instance and clear this task")
            self.log.info("DB instance %s already exists in cluster %s (%s): continuing with it",
                          identifier, self.db_cluster_identifier, instance.get("DBInstanceStatus"))
        return {"db_instance_identifier": instance["DBInstanceIdentifier"],
                "status": instance.get("DBInstanceStatus", ""), "created": created}
