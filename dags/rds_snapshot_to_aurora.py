"""
### RDS PostgreSQL to Aurora PostgreSQL by snapshot

The AWS procedure "Migrating data from an RDS PostgreSQL DB instance to an Aurora PostgreSQL DB
cluster by using a DB snapshot", step by step:

1. **precheck**: every rule before any AWS write, all problems at once: cluster identifier rules
   (and the instance names derived from it), source is RDS PostgreSQL 9.6.1 or later, a given
   snapshot exists, is of that instance and is available, the encryption rule, an Aurora version
   for the source's version and the instance class on it, space against the Aurora volume limit.
2. **create_snapshot** (or use `snapshot_identifier`) then **snapshot_available**.
3. **copy_needed**: when `target_region` differs, **copy_snapshot** (pool `rds_snapshot_copy`, and
   it waits for any other copy into that Region to finish: AWS allows one at a time) then
   **copy_finished**.
4. **restore_cluster** from the snapshot's ARN, with every setting below.
5. **create_primary_instance** (it becomes the writer), **create_replicas**, then
   **cluster_available** (the cluster and every instance).
6. **publish_endpoints**: writer/reader endpoints and port (XCom and log) and the connection to
   create for the logical migration DAG.

Every create looks the resource up first: a retry continues where the previous try stopped.
Waits are deferred to the triggerer. See README.md, "RDS PostgreSQL to Aurora PostgreSQL by snapshot".
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import Param, chain, dag, get_current_context, task

from include.pgferry.aws.identifiers import identifier_param_schema
from include.pgferry.aws.operators import (
    RdsCopyDbSnapshotIfAbsentOperator,
    RdsCreateDbClusterInstancesOperator,
    RdsCreateDbSnapshotIfAbsentOperator,
    RdsRestoreDbClusterFromSnapshotOperator,
)
from include.pgferry.aws.sensors import AuroraClusterAvailableSensor, RdsSnapshotAvailableSensor

# One slot: AWS allows one snapshot copy into each Region at a time; Airflow cannot pick a pool per
# run, so this pool serialises copy requests for all Regions and the copy task itself waits for
# copies already in flight into its target Region (README.md, "Pool").
COPY_POOL = "rds_snapshot_copy"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
log = logging.getLogger(__name__)

PARAMS = {
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
        "db.r6g.large", type="string", pattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$", title="DB instance class",
        examples=["db.r6g.large", "db.r6g.xlarge", "db.r5.large", "db.r4.large", "db.t4g.medium"],
        description="Class of every instance. The seed's db.r4.large is accepted where Aurora still offers it for "
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
    "max_wait_hours": Param(24, type="integer", minimum=1, maximum=168, title="Maximum wait (hours)",
                            description="Give up any single wait (snapshot, copy, restore) after this many hours, "
                                        "1 to 168."),
}


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
        delay = int(params["poll_interval_seconds"])
        return {**plan.as_dict(), "aws_conn_id": conn_id, "waiter_delay": delay,
                "waiter_max_attempts": max(1, int(params["max_wait_hours"]) * 3600 // delay)}

    plan = precheck()
    aws = {"aws_conn_id": plan["aws_conn_id"]}
    waits = {"waiter_delay": plan["waiter_delay"], "waiter_max_attempts": plan["waiter_max_attempts"]}

    create_snapshot = RdsCreateDbSnapshotIfAbsentOperator(
        task_id="create_snapshot", db_instance_identifier=plan["source_db_instance_identifier"],
        db_snapshot_identifier=plan["source_snapshot_identifier"], tags=plan["tags"],
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
        kms_key_id=plan["copy_kms_key_id"], tags=plan["tags"], region_name=plan["target_region"], **aws, **waits)
    copy_finished = RdsSnapshotAvailableSensor(
        task_id="copy_finished", purpose="snapshot copy", db_snapshot_identifier=plan["target_snapshot_identifier"],
        region_name=plan["target_region"], **aws, **waits)
    restore_cluster = RdsRestoreDbClusterFromSnapshotOperator(
        task_id="restore_cluster", trigger_rule="none_failed_min_one_success",
        db_cluster_identifier=plan["db_cluster_identifier"], snapshot_identifier=plan["target_snapshot_identifier"],
        engine=plan["engine"], engine_version=plan["engine_version"], port=plan["port"],
        db_subnet_group_name=plan["db_subnet_group_name"], vpc_security_group_ids=plan["vpc_security_group_ids"],
        kms_key_id=plan["restore_kms_key_id"], tags=plan["tags"], region_name=plan["target_region"], **aws, **waits)
    instance_settings = {
        "db_cluster_identifier": plan["db_cluster_identifier"], "db_instance_class": plan["db_instance_class"],
        "engine": plan["engine"], "publicly_accessible": plan["publicly_accessible"],
        "auto_minor_version_upgrade": plan["auto_minor_version_upgrade"], "tags": plan["tags"],
        "region_name": plan["target_region"], **aws}
    create_primary_instance = RdsCreateDbClusterInstancesOperator(
        task_id="create_primary_instance", db_instance_identifiers=plan["primary_instance_identifier"],
        availability_zone=plan["availability_zone"], **instance_settings)
    # Replicas go where RDS spreads them; only the primary's AZ is chosen, as in the console.
    create_replicas = RdsCreateDbClusterInstancesOperator(
        task_id="create_replicas", db_instance_identifiers=plan["replica_instance_identifiers"], **instance_settings)
    cluster_available = AuroraClusterAvailableSensor(
        task_id="cluster_available",
        db_cluster_identifier=plan["db_cluster_identifier"], db_instance_identifiers=plan["instance_identifiers"],
        region_name=plan["target_region"], **aws, **waits)

    @task
    def publish_endpoints(plan: dict[str, Any]) -> dict[str, Any]:
        """Writer/reader endpoints and port, and the connection to create for the logical migration DAG;
        the run's report (snapshot ids, endpoints, instances, settings) in the log, XCom and the UI."""
        from include.pgferry import ui_report
        from include.pgferry.aws.endpoints import cluster_endpoints, next_step
        from include.pgferry.aws.hooks import rds_hook

        region = plan["target_region"]
        endpoints = cluster_endpoints(rds_hook(plan["aws_conn_id"], region).conn, plan["db_cluster_identifier"],
                                      region)
        published = {**endpoints, "next_step": next_step(endpoints)}
        report = ui_report.snapshot_report(plan, published)
        text = ui_report.render_snapshot_report(report)
        for line in text.splitlines():
            log.info("%s", line)
        ui_report.publish(report, text)
        return published

    published = publish_endpoints(plan)

    chain(plan, create_snapshot, snapshot_available, copy_needed(plan["copy_needed"]), copy_snapshot,
          copy_finished, restore_cluster)
    snapshot_available >> restore_cluster
    chain(restore_cluster, create_primary_instance, create_replicas, cluster_available, published)


rds_snapshot_to_aurora_dag = rds_snapshot_to_aurora()
