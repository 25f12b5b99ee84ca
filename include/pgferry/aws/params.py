"""The snapshot DAG's Params (dags/rds_snapshot_to_aurora.py): every input with its JSON schema.

The trigger form turns each schema into a widget and the API enforces it on trigger, so a bad value is
refused before a run exists. Parse-time cheap: only airflow.sdk and the identifier rules are imported.
"""
from __future__ import annotations

from airflow.sdk import Param

from include.pgferry.aws.identifiers import identifier_param_schema

# Performance Insights keeps 7 days free, or whole months up to 2 years.
PI_RETENTION_DAYS = [7, *range(31, 731, 31), 731]
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"


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


def param_defaults() -> dict[str, object]:
    """The declared default of every Param that has one."""
    return {name: param.value for name, param in make_params().items() if param.has_value}
