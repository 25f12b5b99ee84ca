"""The snapshot migration's typed plan: the request (the DAG's params, normalised) and the plan every
task after precheck follows (XCom form: `as_dict`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Identifiers RDS stores in lower case: normalised in precheck, so every later comparison holds.
LOWER_CASED = ("source_db_instance_identifier", "db_cluster_identifier", "snapshot_identifier",
               "db_subnet_group_name", "db_cluster_parameter_group_name", "db_parameter_group_name")
SERVERLESS_CLASS = "db.serverless"


@dataclass
class MigrationRequest:
    """The DAG's params, normalised."""
    source_db_instance_identifier: str
    db_cluster_identifier: str
    source_region: str
    target_region: str = ""
    snapshot_identifier: str = ""
    db_instance_class: str = "db.r6g.large"
    vpc_security_group_ids: list[str] = field(default_factory=list)
    db_subnet_group_name: str = ""
    publicly_accessible: bool = False
    availability_zone: str = ""
    port: int = 5432
    kms_key_id: str = ""
    auto_minor_version_upgrade: bool = True
    replica_count: int = 0
    # production settings
    serverless_v2_scaling: dict[str, Any] = field(default_factory=lambda: {"min_capacity": 0.5, "max_capacity": 16})
    db_cluster_parameter_group_name: str = ""
    db_parameter_group_name: str = ""
    deletion_protection: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    copy_tags_to_snapshot: bool = True
    enable_iam_database_authentication: bool = False
    enable_cloudwatch_logs_exports: list[str] = field(default_factory=list)
    storage_type: str = "aurora"
    backup_retention_period: int = 7
    enable_performance_insights: bool = False
    performance_insights_retention_period: int = 7
    delete_snapshots_when_done: bool = False
    max_copies_in_flight_per_region: int = 1
    min_wait_hours: float = 1.0
    wait_hours_per_tib: float = 4.0
    max_wait_hours: float = 72.0
    poll_interval_seconds: int = 60
    # what normalisation changed: {param: (given, used)}
    normalised: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> MigrationRequest:
        known = {f for f in cls.__dataclass_fields__} - {"normalised"}
        # the trigger form sends null for an optional field that was typed in and cleared
        values = {k: v for k, v in params.items() if k in known and v is not None}
        request = cls(**values)
        request.target_region = request.target_region or request.source_region
        for name in ("snapshot_identifier", "kms_key_id", "db_subnet_group_name", "availability_zone",
                     "db_cluster_parameter_group_name", "db_parameter_group_name"):
            setattr(request, name, str(getattr(request, name) or "").strip())
        for name in LOWER_CASED:
            given = getattr(request, name)
            if given != given.lower():
                request.normalised[name] = (given, given.lower())
                setattr(request, name, given.lower())
        request.vpc_security_group_ids = list(request.vpc_security_group_ids or [])
        request.enable_cloudwatch_logs_exports = list(request.enable_cloudwatch_logs_exports or [])
        request.tags = {str(k): str(v) for k, v in (request.tags or {}).items()}
        request.port, request.replica_count = int(request.port), int(request.replica_count)
        return request

    @property
    def serverless(self) -> bool:
        return self.db_instance_class == SERVERLESS_CLASS

    def cluster_settings(self) -> dict[str, Any]:
        """RestoreDBClusterFromSnapshot arguments beyond the seed's (aws/settings.py CLUSTER_SETTINGS)."""
        settings: dict[str, Any] = {
            "DeletionProtection": bool(self.deletion_protection), "CopyTagsToSnapshot": bool(self.copy_tags_to_snapshot),
            "EnableIAMDatabaseAuthentication": bool(self.enable_iam_database_authentication),
            "StorageType": self.storage_type, "BackupRetentionPeriod": int(self.backup_retention_period)}
        if self.db_cluster_parameter_group_name:
            settings["DBClusterParameterGroupName"] = self.db_cluster_parameter_group_name
        if self.enable_cloudwatch_logs_exports:
            settings["EnableCloudwatchLogsExports"] = list(self.enable_cloudwatch_logs_exports)
        if self.serverless:
            scaling = self.serverless_v2_scaling or {}
            settings["ServerlessV2ScalingConfiguration"] = {"MinCapacity": float(scaling.get("min_capacity", 0.5)),
                                                            "MaxCapacity": float(scaling.get("max_capacity", 16))}
        return settings

    def instance_settings(self) -> dict[str, Any]:
        """CreateDBInstance arguments beyond the seed's (aws/settings.py INSTANCE_SETTINGS)."""
        settings: dict[str, Any] = {"EnablePerformanceInsights": bool(self.enable_performance_insights)}
        if self.enable_performance_insights:
            settings["PerformanceInsightsRetentionPeriod"] = int(self.performance_insights_retention_period)
        if self.db_parameter_group_name:
            settings["DBParameterGroupName"] = self.db_parameter_group_name
        return settings


@dataclass
class MigrationPlan:
    source_region: str
    target_region: str
    copy_needed: bool
    snapshot_needed: bool                 # False: the cluster exists already (ours): no snapshot, no copy
    source_db_instance_identifier: str
    source_db_instance_arn: str
    source_engine_version: str
    source_snapshot_identifier: str       # in source_region; taken by the DAG unless given
    snapshot_given: bool
    target_snapshot_identifier: str       # the snapshot the cluster is restored from, in target_region
    target_snapshot_arn: str
    db_cluster_identifier: str
    primary_instance_identifier: str
    replica_instance_identifiers: list[str]
    instance_identifiers: list[str]
    primary_instance: list[dict[str, Any]]   # [{db_instance_identifier, availability_zone, promotion_tier}]
    replica_instances: list[dict[str, Any]]
    engine: str
    engine_version: str                   # "" = RDS chooses (engine versions not readable)
    db_instance_class: str
    port: int
    db_subnet_group_name: str
    vpc_security_group_ids: list[str]
    availability_zone: str
    publicly_accessible: bool
    auto_minor_version_upgrade: bool
    copy_kms_key_id: str
    restore_kms_key_id: str
    encrypted_at_rest: bool
    cluster_settings: dict[str, Any]
    instance_settings: dict[str, Any]
    allocated_storage_gib: int | None
    resuming: list[str]                   # resources found from an earlier run of the same migration
    tags: list[dict[str, str]]            # on the cluster and its instances
    snapshot_tags: list[dict[str, str]]   # on the snapshot and the copy pgferry makes
    delete_snapshots_when_done: bool
    max_copies_in_flight_per_region: int
    wait_hours: float
    waiter_delay: int
    waiter_max_attempts: int
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
