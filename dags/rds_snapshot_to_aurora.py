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
Waits are deferred to the triggerer.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, chain, dag, task

from include.pgferry.aws.operators import (
    RdsCopyDbSnapshotIfAbsentOperator,
    RdsCreateDbClusterInstancesOperator,
    RdsCreateDbSnapshotIfAbsentOperator,
    RdsRestoreDbClusterFromSnapshotOperator,
)
from include.pgferry.aws.params import make_params
from include.pgferry.aws.sensors import AuroraClusterAvailableSensor, RdsSnapshotAvailableSensor
from include.pgferry.guide import OWNER, guide_line

# The copy limit is per destination Region and counted by the copy task itself (copies in flight there,
# anyone's). This one-slot pool only makes "count, then request" atomic across runs: the task holds it
# for seconds, and a deferred (waiting) task holds no slot (docs/snapshot-to-aurora.md, "Copy limit and pool").
COPY_POOL = "rds_snapshot_copy"
# What a downstream DAG schedules on; each event's extra holds the cluster's endpoints.
# Name only (its URI is the name): a URI scheme would make Airflow load every provider's asset handlers
# at parse time (boto3 among them, +0.6 s measured).
CLUSTER_ASSET = Asset(name="pgferry_aurora_cluster")
PARAMS = make_params()


@dag(
    dag_id="rds_snapshot_to_aurora",
    schedule=None,
    catchup=False,
    tags=["pgferry", "aws", "rds", "aurora", "snapshot"],
    params=PARAMS,
    doc_md=__doc__ + "\n" + guide_line("snapshot-to-aurora.md", "RDS PostgreSQL to Aurora PostgreSQL by snapshot"),
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "owner": OWNER},
    max_active_tasks=8,
)
def rds_snapshot_to_aurora() -> None:
    @task(multiple_outputs=True)
    def precheck(params=None, dag_run=None) -> dict[str, Any]:
        """Every rule, before any AWS write; fails with the full list of problems."""
        from include.pgferry.aws import precheck
        return precheck.precheck(params, run_after=dag_run.run_after, run_id=dag_run.run_id)

    plan = precheck()
    aws = {"aws_conn_id": plan["aws_conn_id"]}
    waits = {"waiter_delay": plan["waiter_delay"], "waiter_max_attempts": plan["waiter_max_attempts"]}

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def snapshot_needed(needed: bool) -> bool:
        """False when this migration's cluster exists already: skips the snapshot and the copy."""
        from include.pgferry.aws import skips
        return skips.snapshot_needed(needed)

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
        from include.pgferry.aws import skips
        return skips.copy_needed(needed)

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
    def publish_endpoints(plan: dict[str, Any], outlet_events=None) -> dict[str, Any]:
        """What RDS says the new cluster is: writer/reader endpoints, port, instances and settings, read back
        with describe calls (never the request), and the connection to create for the logical migration DAG;
        in the log, XCom, the run report and the Asset pgferry_aurora_cluster's event."""
        from include.pgferry.aws import publish_endpoints
        return publish_endpoints.publish_endpoints(plan, outlet_events[CLUSTER_ASSET])

    @task
    def clean_up_snapshots(plan: dict[str, Any]) -> dict[str, Any]:
        """With delete_snapshots_when_done: delete the snapshot and the copy pgferry made (tag pgferry:made-by),
        never one the user gave."""
        from include.pgferry.aws import cleanup
        return cleanup.clean_up_snapshots(plan)

    published = publish_endpoints(plan)

    chain(plan, snapshot_needed(plan["snapshot_needed"]), create_snapshot, snapshot_available,
          copy_needed(plan["copy_needed"]), copy_snapshot, copy_finished, restore_cluster)
    snapshot_available >> restore_cluster
    chain(restore_cluster, create_primary_instance, create_replicas, cluster_available, published,
          clean_up_snapshots(plan))


rds_snapshot_to_aurora_dag = rds_snapshot_to_aurora()
