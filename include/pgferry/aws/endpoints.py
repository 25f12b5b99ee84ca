"""What the migration hands over: the new cluster's endpoints, and the connection to make next."""
from __future__ import annotations

import shlex
from typing import Any

# The logical migration DAG's default target connection id (dags/postgres_logical_migration.py).
NEXT_CONN_ID = "pgferry_target"


def cluster_endpoints(conn: Any, db_cluster_identifier: str, region: str) -> dict[str, Any]:
    """Writer and reader endpoints, port and members of a cluster, read from RDS. No secrets."""
    cluster = conn.describe_db_clusters(DBClusterIdentifier=db_cluster_identifier)["DBClusters"][0]
    instances = conn.describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": [db_cluster_identifier]}])["DBInstances"]
    writers = {m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", []) if m.get("IsClusterWriter")}
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
