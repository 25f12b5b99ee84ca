"""What the migration hands over: the new cluster's endpoints, and the connection to make next."""
from __future__ import annotations

import shlex
from typing import Any

from include.pgferry.aws.hooks import cluster_instances, find_cluster, restored_from, writer_identifier

# The logical migration DAG's default target connection id (dags/postgres_logical_migration.py).
NEXT_CONN_ID = "pgferry_target"


def cluster_endpoints(conn: Any, db_cluster_identifier: str, region: str) -> dict[str, Any]:
    """Writer and reader endpoints, port and members of a cluster, read from RDS. No secrets."""
    cluster = find_cluster(conn, db_cluster_identifier)
    if cluster is None:
        raise LookupError(f"DB cluster {db_cluster_identifier!r} not found in {region}: it was deleted after it "
                          "became available, or db_cluster_identifier names another cluster")
    instances = cluster_instances(conn, db_cluster_identifier)
    writers = {writer_identifier(cluster)}
    members = [{"db_instance_identifier": i["DBInstanceIdentifier"],
                "role": "writer" if i["DBInstanceIdentifier"] in writers else "reader",
                "endpoint": (i.get("Endpoint") or {}).get("Address", ""),
                "availability_zone": i.get("AvailabilityZone", ""),
                "db_instance_class": i.get("DBInstanceClass", ""),
                "status": i.get("DBInstanceStatus", "")}
               for i in sorted(instances, key=lambda i: i["DBInstanceIdentifier"])]
    return {
        "db_cluster_identifier": cluster["DBClusterIdentifier"],
        "region": region,
        "status": cluster.get("Status", ""),
        "engine": cluster.get("Engine", ""),
        "engine_version": cluster.get("EngineVersion", ""),
        "writer_endpoint": cluster.get("Endpoint", ""),
        "reader_endpoint": cluster.get("ReaderEndpoint", ""),
        "port": int(cluster.get("Port") or 5432),
        "master_username": cluster.get("MasterUsername", ""),
        "database_name": cluster.get("DatabaseName") or "postgres",
        "storage_encrypted": bool(cluster.get("StorageEncrypted")),
        "instances": members,
    }


def observed_settings(conn: Any, db_cluster_identifier: str) -> dict[str, Any]:
    """The cluster's settings as RDS reports them (DescribeDBClusters / DescribeDBInstances), under the
    plan's names, so the run report shows what exists, never what was asked for."""
    cluster = find_cluster(conn, db_cluster_identifier) or {}
    instances = {i["DBInstanceIdentifier"]: i for i in cluster_instances(conn, db_cluster_identifier)}
    writer = writer_identifier(cluster)
    primary = instances.get(writer) or (instances[sorted(instances)[0]] if instances else {})
    return {
        "engine": cluster.get("Engine", ""), "engine_version": cluster.get("EngineVersion", ""),
        "db_instance_class": primary.get("DBInstanceClass", ""), "port": cluster.get("Port"),
        "db_subnet_group_name": cluster.get("DBSubnetGroup", ""),
        "vpc_security_group_ids": [g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", [])],
        "availability_zone": primary.get("AvailabilityZone", ""),
        "publicly_accessible": primary.get("PubliclyAccessible"),
        "auto_minor_version_upgrade": primary.get("AutoMinorVersionUpgrade"),
        "encrypted_at_rest": bool(cluster.get("StorageEncrypted")),
        "restore_kms_key_id": cluster.get("KmsKeyId", "") if cluster.get("StorageEncrypted") else "",
        "deletion_protection": cluster.get("DeletionProtection"),
        "storage_type": cluster.get("StorageType"),
        "backup_retention_period": cluster.get("BackupRetentionPeriod"),
        "iam_database_authentication": cluster.get("IAMDatabaseAuthenticationEnabled"),
        "cloudwatch_logs_exports": cluster.get("EnabledCloudwatchLogsExports", []),
        "copy_tags_to_snapshot": cluster.get("CopyTagsToSnapshot"),
        "db_cluster_parameter_group_name": cluster.get("DBClusterParameterGroup", ""),
        "serverless_v2_scaling": cluster.get("ServerlessV2ScalingConfiguration"),
        "restored_from_snapshot": restored_from(cluster),
    }


def asset_extra(published: dict[str, Any]) -> dict[str, Any]:
    """The Asset event's extra: what a downstream DAG needs to reach the cluster (no secrets)."""
    keys = ("db_cluster_identifier", "region", "writer_endpoint", "reader_endpoint", "port", "database_name",
            "master_username", "engine_version")
    return {**{k: published.get(k) for k in keys},
            "instances": [{k: i[k] for k in ("db_instance_identifier", "role", "endpoint")}
                          for i in published.get("instances", [])],
            "next_conn_id": published.get("next_step", {}).get("conn_id")}


def next_step(endpoints: dict[str, Any], conn_id: str = NEXT_CONN_ID) -> dict[str, Any]:
    """The Airflow connection the logical migration DAG takes as its target, minus the password.

    The cluster keeps the source instance's master user and password (they are in the snapshot);
    the password never passes through pgferry, so it is left for the operator to fill in.
    """
    fields = {"conn_type": "postgres", "host": endpoints["writer_endpoint"], "port": endpoints["port"],
              "login": endpoints["master_username"], "schema": endpoints["database_name"]}
    command = ("airflow connections add " + shlex.quote(conn_id)
               + f" --conn-type postgres --conn-host {shlex.quote(fields['host'])} --conn-port {fields['port']}"
               + f" --conn-login {shlex.quote(fields['login'])} --conn-schema {shlex.quote(fields['schema'])}"
               + " --conn-password \"$SOURCE_MASTER_PASSWORD\"")
    return {
        "conn_id": conn_id,
        "connection": fields,
        "password": "the source instance's master password (restored with the snapshot)",
        "command": command,
        "then": f"trigger postgres_logical_migration with target_conn_id={conn_id!r}",
    }
