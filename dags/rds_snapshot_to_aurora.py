"""
### RDS PostgreSQL to Aurora PostgreSQL by snapshot

The AWS procedure "Migrating data from an RDS PostgreSQL DB instance to an Aurora PostgreSQL DB
cluster by using a DB snapshot", step by step:

1. **precheck**: every rule before any AWS write, all problems at once: cluster identifier rules
   (identifiers lower-cased, as RDS stores them), source is RDS PostgreSQL 9.6.1 or later, a given
   snapshot exists, is of that instance and is available, the encryption rule, an Aurora version
   for the source's version and the instance class on it, space, parameter groups, subnet group
   (its AZs place the replicas); and what an earlier run left: a copy reused only if it is a copy
   of this snapshot, a cluster only if it is of this source, from this snapshot, with these settings.
2. **snapshot_needed**: false when the cluster exists already (a rerun): no new snapshot, no copy.
   **create_snapshot** (or use `snapshot_identifier`) then **snapshot_available**.
3. **copy_needed**: when `target_region` differs, **copy_snapshot** (at most
   `max_copies_in_flight_per_region` copies into that Region; backs off on quota errors) then
   **copy_finished**.
4. **restore_cluster** from the snapshot's ARN, with every setting below; the snapshot is recorded
   on the cluster (tag `pgferry:restored-from-snapshot`).
5. **create_primary_instance** (it becomes the writer), **create_replicas** (spread over the subnet
   group's AZs, promotion tiers 1, 2, ...), then **cluster_available** (the cluster and every instance).
6. **publish_endpoints**: what RDS says the cluster is (endpoints, settings), as XCom, log, run report
   and the Asset `pgferry_aurora_cluster` (endpoints in its event's extra).
7. **clean_up_snapshots**: with `delete_snapshots_when_done`, deletes the snapshot and the copy
   pgferry made (never a snapshot the user gave).

A terminal state of the snapshot, copy, cluster or an instance fails its task at once, naming the
state and what to do; a wait that runs out of time is a timeout, and the retry continues it.
Every create looks the resource up first: a retry continues where the previous try stopped.
Waits are deferred to the triggerer. See README.md, "RDS PostgreSQL to Aurora PostgreSQL by snapshot".
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, Param, chain, dag, get_current_context, task

from include.pgferry.aws.identifiers import identifier_param_schema
from include.pgferry.aws.operators import (
    RdsCopyDbSnapshotIfAbsentOperator,
    RdsCreateDbClusterInstancesOperator,
    RdsCreateDbSnapshotIfAbsentOperator,
    RdsRestoreDbClusterFromSnapshotOperator,
)
from include.pgferry.aws.sensors import AuroraClusterAvailableSensor, RdsSnapshotAvailableSensor

# The copy limit is per destination Region and counted by the copy task itself (copies in flight there,
# anyone's). This one-slot pool only makes "count, then request" atomic across runs: the task holds it
# for seconds, and a deferred (waiting) task holds no slot (README.md, "Copy limit and pool").
COPY_POOL = "rds_snapshot_copy"
# What a downstream DAG schedules on; each event's extra holds the cluster's endpoints.
# Name only (its URI is the name): a URI scheme would make Airflow load every provider's asset handlers
# at parse time (boto3 among them, +0.6 s measured).
CLUSTER_ASSET = Asset(name="pgferry_aurora_cluster")
# Performance Insights keeps 7 days free, or whole months up to 2 years.
PI_RETENTION_DAYS = [7, *range(31, 731, 31), 731]
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
log = logging.getLogger(__name__)

def make_params() -> dict[str, Param]:
    """Every input, with its JSON schema. A function so callers get fresh Params with their declared
    defaults (dag.test() resolves a run's conf into the DAG's own Param objects)."""
    return {
        "aws_conn_id": Param(
            "aws_default", type="string", minLength=1, title="AWS connection", examples=["aws_default"],
            description="Id of the Airflow connection (type aws) used for both Regions (Admin > Connections)."),
        "source_db_instance_identifier": Param(
            type="string", title="Source RDS PostgreSQL instance", examples=["shop-db"],
            description="DB instance identifier of the RDS PostgreSQL instance to migrate (in the source Region): "
                        "1 to 63 letters, digits or hyphens, starting with a letter.",
            **identifier_param_schema()),
        "snapshot_identifier": Param(
            "", type=["null", "string"], title="Existing snapshot (optional)",
            pattern=r"^$|^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:snapshot:[A-Za-z][A-Za-z0-9:-]*$|^[A-Za-z][A-Za-z0-9:-]{0,254}$",
            description="A manual or automated DB snapshot of the source instance (name or ARN, in source_region) to "
                        "migrate. Empty: take a new manual snapshot now."),
        "source_region": Param(
            "us-east-1", type="string", pattern=REGION_PATTERN, title="Source Region",
            examples=["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"],
            description="AWS Region of the source instance and its snapshot, e.g. us-east-1."),
        "target_region": Param(
            "", type=["null", "string"], pattern=r"^$|" + REGION_PATTERN, title="Target Region (optional)",
            examples=["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"],
            description="AWS Region for the Aurora cluster. Empty: same as source_region. When it differs the "
                        "snapshot is copied there first."),
        "db_cluster_identifier": Param(
            type="string", title="New Aurora cluster identifier", examples=["aurora-shop"],
            description="Rule: 1 to 63 letters, digits or hyphens; first character a letter; no trailing hyphen and "
                        "no two consecutive hyphens; unique in the target Region. Instances are named <cluster>-1 "
                        "(primary), <cluster>-2 ... (replicas), and obey the same rules. A name that breaks the rule "
                        "is refused on Trigger with the rule it breaks.",
            **identifier_param_schema()),
        "db_instance_class": Param(
            "db.r6g.large", type="string", pattern=r"^db\.([a-z0-9-]+\.[a-z0-9]+|serverless)$", title="DB instance class",
            examples=["db.r6g.large", "db.r6g.xlarge", "db.r5.large", "db.r4.large", "db.t4g.medium"],
            description="Class of every instance; db.serverless for Aurora Serverless v2 (capacity: "
                        "serverless_v2_scaling). The seed's db.r4.large is accepted where Aurora still offers it for "
                        "the chosen version (precheck asks RDS)."),
        "vpc_security_group_ids": Param(
            [], type="array", items={"type": "string", "pattern": r"^sg-[0-9a-f]+$"}, uniqueItems=True,
            title="VPC security groups",
            description="Security group ids for the cluster, one per line (sg-0123abcd). Empty: the VPC's default."),
        "db_subnet_group_name": Param(
            "", type=["null", "string"], pattern=r"^$|^[A-Za-z0-9 ._-]{1,255}$", title="DB subnet group (optional)",
            description="DB subnet group in the target Region (it picks the VPC). Empty: the default VPC."),
        "publicly_accessible": Param(
            False, type="boolean", title="Publicly accessible",
            description="Give the instances public IP addresses. Default false, unlike the console's Yes: only "
                        "application servers inside the VPC need the database."),
        "availability_zone": Param(
            "", type=["null", "string"], pattern=r"^$|^[a-z]{2}(-[a-z]+)+-\d+[a-z]$", title="Availability Zone (optional)",
            description="AZ of the primary instance, in the target Region. Empty: no preference."),
        "port": Param(5432, type="integer", minimum=1150, maximum=65535, title="Port",
                      description="Port of the cluster's endpoints."),
        "kms_key_id": Param(
            "", type=["null", "string"], title="KMS key (optional)",
            description="Encrypt the new cluster at rest with this KMS key (id, ARN or alias, in the target Region). "
                        "Only for an unencrypted snapshot: an encrypted one restores with its own key, and another key "
                        "is refused. A cross-Region copy of an encrypted snapshot needs a key of the target Region here."),
        "auto_minor_version_upgrade": Param(
            True, type="boolean", title="Auto minor version upgrade",
            description="Let RDS apply minor engine upgrades in the maintenance window."),
        "replica_count": Param(0, type="integer", minimum=0, maximum=15, title="Aurora replicas (0-15)",
                               description="Aurora replicas besides the primary instance, from 0 to 15 (Aurora's "
                                           "limit). They are created after the primary and serve the reader endpoint."),
        "poll_interval_seconds": Param(60, type="integer", minimum=1, maximum=3600, title="Poll interval (s)",
                                       description="Seconds between status checks while waiting, 1 to 3600."),
        "min_wait_hours": Param(1, type="number", minimum=0, maximum=168, title="Wait: base (hours)",
                                description="Every wait (snapshot, copy, restore, instances) may take this many hours "
                                            "plus wait_hours_per_tib per TiB of the source, up to max_wait_hours."),
        "wait_hours_per_tib": Param(4, type="number", minimum=0, maximum=168, title="Wait: hours per TiB",
                                    description="Hours added to each wait per TiB of the source's allocated storage "
                                                "(AWS quotes snapshot, copy and migration times in hours per terabyte)."),
        "max_wait_hours": Param(72, type="number", minimum=0.01, maximum=168, title="Wait: maximum (hours)",
                                description="No single wait lasts longer than this, 0.01 to 168 hours. A wait that runs "
                                            "out is a timeout: the task's retry continues it."),
        "deletion_protection": Param(True, type="boolean", title="Deletion protection",
                                     description="Protect the new cluster from deletion (on by default: a production "
                                                 "cluster). Turn off for a throwaway cluster."),
        "serverless_v2_scaling": Param(
            {"min_capacity": 0.5, "max_capacity": 16}, type="object", title="Serverless v2 capacity (ACUs)",
            properties={"min_capacity": {"type": "number", "minimum": 0, "maximum": 256, "multipleOf": 0.5},
                        "max_capacity": {"type": "number", "minimum": 1, "maximum": 256, "multipleOf": 0.5}},
            required=["min_capacity", "max_capacity"], additionalProperties=False,
            description="Used when db_instance_class is db.serverless (Aurora Serverless v2): the cluster's "
                        "ServerlessV2ScalingConfiguration, in Aurora capacity units, 0 to 256 in steps of 0.5."),
        "db_cluster_parameter_group_name": Param(
            "", type=["null", "string"], pattern=r"^$|^[A-Za-z][A-Za-z0-9-]{0,254}$", title="Cluster parameter group",
            description="DB cluster parameter group in the target Region (family aurora-postgresql<major>). Empty: "
                        "the default."),
        "db_parameter_group_name": Param(
            "", type=["null", "string"], pattern=r"^$|^[A-Za-z][A-Za-z0-9-]{0,254}$", title="Instance parameter group",
            description="DB parameter group for every instance, in the target Region. Empty: the default."),
        "tags": Param({}, type="object", title="Tags",
                      additionalProperties={"type": "string", "maxLength": 256},
                      propertyNames={"minLength": 1, "maxLength": 128},
                      description="Tags (key: value) for the cluster, its instances and the snapshots pgferry makes. "
                                  "Keys starting pgferry: or aws: are reserved."),
        "copy_tags_to_snapshot": Param(True, type="boolean", title="Copy tags to snapshots",
                                       description="The cluster copies its tags to its own snapshots."),
        "enable_iam_database_authentication": Param(False, type="boolean", title="IAM database authentication",
                                                    description="Let IAM users and roles log in to the cluster."),
        "enable_cloudwatch_logs_exports": Param(
            [], type="array", items={"type": "string", "enum": ["postgresql", "instance", "iam-db-auth-error"]},
            uniqueItems=True, title="CloudWatch log exports",
            description="Logs the cluster publishes to CloudWatch Logs (postgresql; instance and iam-db-auth-error "
                        "where the engine version has them)."),
        "storage_type": Param("aurora", type="string", enum=["aurora", "aurora-iopt1"], title="Storage type",
                              description="aurora (Standard, pay per I/O) or aurora-iopt1 (I/O-Optimized)."),
        "backup_retention_period": Param(7, type="integer", minimum=1, maximum=35, title="Backup retention (days)",
                                         description="Days of automated backups the cluster keeps, 1 to 35."),
        "enable_performance_insights": Param(False, type="boolean", title="Performance Insights",
                                             description="Turn on Performance Insights on every instance."),
        "performance_insights_retention_period": Param(
            7, type="integer", enum=PI_RETENTION_DAYS, title="Performance Insights retention (days)",
            description="7 (free tier), a multiple of 31 up to 713, or 731."),
        "delete_snapshots_when_done": Param(
            False, type="boolean", title="Delete pgferry's snapshots when done",
            description="After the cluster is available, delete the snapshot and the copy pgferry made for it. "
                        "A snapshot you gave (snapshot_identifier) is never deleted."),
        "max_copies_in_flight_per_region": Param(
            1, type="integer", minimum=1, maximum=20, title="Snapshot copies in flight per Region",
            description="The copy task waits while this many snapshot copies (anyone's) are in flight into the target "
                        "Region. 1 is the seed's rule; AWS currently allows up to 20."),
    }


PARAMS = make_params()


def param_defaults() -> dict[str, object]:
    """The declared default of every Param that has one."""
    return {name: param.value for name, param in make_params().items() if param.has_value}



@dag(
    dag_id="rds_snapshot_to_aurora",
    schedule=None,
    catchup=False,
    tags=["pgferry", "aws", "rds", "aurora", "snapshot"],
    params=PARAMS,
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "owner": "pgferry"},
    max_active_tasks=8,
)
def rds_snapshot_to_aurora() -> None:
    @task(multiple_outputs=True)
    def precheck() -> dict[str, Any]:
        """Every rule, before any AWS write; fails with the full list of problems."""
        from airflow.sdk.exceptions import AirflowFailException

        from include.pgferry.aws.hooks import kms_client, rds_hook
        from include.pgferry.checks.aws import plan_snapshot_migration
        from include.pgferry.checks.findings import PrecheckFailed

        context = get_current_context()
        params = dict(context["params"])
        source_region = params["source_region"]
        target_region = params["target_region"] or source_region
        conn_id = params["aws_conn_id"]
        stamp = context["dag_run"].run_after.strftime("%Y%m%d%H%M%S")
        try:
            plan = plan_snapshot_migration(params, run_stamp=stamp, run_id=context["run_id"],
                                           source_rds=rds_hook(conn_id, source_region).conn,
                                           target_rds=rds_hook(conn_id, target_region).conn,
                                           target_kms=kms_client(conn_id, target_region))
        except PrecheckFailed as failed:
            # Bad input does not get better with retries.
            raise AirflowFailException(str(failed)) from None
        for found in plan.resuming:
            log.info("continuing with %s, left by an earlier run of this migration", found)
        return {**plan.as_dict(), "aws_conn_id": conn_id}

    plan = precheck()
    aws = {"aws_conn_id": plan["aws_conn_id"]}
    waits = {"waiter_delay": plan["waiter_delay"], "waiter_max_attempts": plan["waiter_max_attempts"]}

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def snapshot_needed(needed: bool) -> bool:
        """False when this migration's cluster exists already: skips the snapshot and the copy."""
        if not needed:
            log.info("the cluster exists already (an earlier run): no new snapshot, no copy")
        return bool(needed)

    create_snapshot = RdsCreateDbSnapshotIfAbsentOperator(
        task_id="create_snapshot", db_instance_identifier=plan["source_db_instance_identifier"],
        db_snapshot_identifier=plan["source_snapshot_identifier"], tags=plan["snapshot_tags"],
        region_name=plan["source_region"], **aws)
    snapshot_available = RdsSnapshotAvailableSensor(
        task_id="snapshot_available", db_snapshot_identifier=plan["source_snapshot_identifier"],
        region_name=plan["source_region"], **aws, **waits)

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def copy_needed(needed: bool) -> bool:
        """True when the cluster goes to another Region; False skips the copy and its sensor."""
        return bool(needed)

    copy_snapshot = RdsCopyDbSnapshotIfAbsentOperator(
        task_id="copy_snapshot", pool=COPY_POOL, source_db_snapshot_identifier=plan["source_snapshot_identifier"],
        target_db_snapshot_identifier=plan["target_snapshot_identifier"], source_region=plan["source_region"],
        kms_key_id=plan["copy_kms_key_id"], tags=plan["snapshot_tags"],
        max_copies_in_flight=plan["max_copies_in_flight_per_region"], region_name=plan["target_region"], **aws,
        **waits)
    copy_finished = RdsSnapshotAvailableSensor(
        task_id="copy_finished", purpose="snapshot copy", db_snapshot_identifier=plan["target_snapshot_identifier"],
        region_name=plan["target_region"], **aws, **waits)
    restore_cluster = RdsRestoreDbClusterFromSnapshotOperator(
        task_id="restore_cluster", trigger_rule="none_failed_min_one_success",
        db_cluster_identifier=plan["db_cluster_identifier"], snapshot_identifier=plan["target_snapshot_identifier"],
        engine=plan["engine"], engine_version=plan["engine_version"], port=plan["port"],
        db_subnet_group_name=plan["db_subnet_group_name"], vpc_security_group_ids=plan["vpc_security_group_ids"],
        kms_key_id=plan["restore_kms_key_id"], encrypted_at_rest=plan["encrypted_at_rest"], tags=plan["tags"],
        rds_kwargs=plan["cluster_settings"], region_name=plan["target_region"], **aws, **waits)
    instance_settings = {
        "db_cluster_identifier": plan["db_cluster_identifier"], "db_instance_class": plan["db_instance_class"],
        "engine": plan["engine"], "publicly_accessible": plan["publicly_accessible"],
        "auto_minor_version_upgrade": plan["auto_minor_version_upgrade"], "tags": plan["tags"],
        "rds_kwargs": plan["instance_settings"], "region_name": plan["target_region"], **aws}
    create_primary_instance = RdsCreateDbClusterInstancesOperator(
        task_id="create_primary_instance", instances=plan["primary_instance"], **instance_settings)
    # Replicas round the subnet group's AZs, with promotion tiers 1, 2, ... (precheck plans them).
    create_replicas = RdsCreateDbClusterInstancesOperator(
        task_id="create_replicas", instances=plan["replica_instances"], **instance_settings)
    cluster_available = AuroraClusterAvailableSensor(
        task_id="cluster_available",
        db_cluster_identifier=plan["db_cluster_identifier"], db_instance_identifiers=plan["instance_identifiers"],
        region_name=plan["target_region"], **aws, **waits)

    @task(outlets=[CLUSTER_ASSET])
    def publish_endpoints(plan: dict[str, Any]) -> dict[str, Any]:
        """What RDS says the new cluster is: writer/reader endpoints, port, instances and settings, read back
        with describe calls (never the request), and the connection to create for the logical migration DAG;
        in the log, XCom, the run report and the Asset pgferry_aurora_cluster's event."""
        from include.pgferry.report import snapshot as ui_report
        from include.pgferry.aws.endpoints import asset_extra, cluster_endpoints, next_step, observed_settings
        from include.pgferry.aws.hooks import rds_hook

        region = plan["target_region"]
        conn = rds_hook(plan["aws_conn_id"], region).conn
        endpoints = cluster_endpoints(conn, plan["db_cluster_identifier"], region)
        settings = observed_settings(conn, plan["db_cluster_identifier"])
        published = {**endpoints, "settings": settings, "next_step": next_step(endpoints)}
        report = ui_report.snapshot_report({**plan, **settings}, published)
        text = ui_report.render_snapshot_report(report)
        for line in text.splitlines():
            log.info("%s", line)
        ui_report.publish(report, text)
        get_current_context()["outlet_events"][CLUSTER_ASSET].extra = asset_extra(published)
        return published

    @task
    def clean_up_snapshots(plan: dict[str, Any]) -> dict[str, Any]:
        """With delete_snapshots_when_done: delete the snapshot and the copy pgferry made (tag pgferry:made-by),
        never one the user gave."""
        from include.pgferry.aws.cleanup import delete_made_snapshots

        if not plan["delete_snapshots_when_done"]:
            log.info("delete_snapshots_when_done is off: snapshots kept")
            return {"deleted": [], "kept": []}
        return delete_made_snapshots(plan)

    published = publish_endpoints(plan)

    chain(plan, snapshot_needed(plan["snapshot_needed"]), create_snapshot, snapshot_available,
          copy_needed(plan["copy_needed"]), copy_snapshot, copy_finished, restore_cluster)
    snapshot_available >> restore_cluster
    chain(restore_cluster, create_primary_instance, create_replicas, cluster_available, published,
          clean_up_snapshots(plan))


rds_snapshot_to_aurora_dag = rds_snapshot_to_aurora()
