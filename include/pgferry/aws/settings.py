"""What a run asks RDS for, and how that compares with what exists.

`restore_request` and `instance_request` build the RestoreDBClusterFromSnapshot and CreateDBInstance
arguments from the plan, in one place for the operators and the precheck. `differences` compares
such a request, field by field, with what DescribeDBClusters / DescribeDBInstances return, so an
existing cluster or instance is reused only when it is what this run asks for; otherwise every
difference is named. A field the describe answer does not carry is not compared (listed in
`unverifiable`), and nothing is ever modified to make it match.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from include.pgferry.aws.encryption import same_kms_key

# Cluster-level settings passed through to RestoreDBClusterFromSnapshot as they are (API names).
CLUSTER_SETTINGS = ("DeletionProtection", "DBClusterParameterGroupName", "CopyTagsToSnapshot",
                    "EnableIAMDatabaseAuthentication", "EnableCloudwatchLogsExports", "StorageType",
                    "BackupRetentionPeriod", "ServerlessV2ScalingConfiguration")
# Instance-level settings for CreateDBInstance.
INSTANCE_SETTINGS = ("DBParameterGroupName", "EnablePerformanceInsights", "PerformanceInsightsRetentionPeriod")


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def _lower(value: Any) -> str:
    return str(value or "").lower()


def restore_request(*, db_cluster_identifier: str, snapshot_arn: str, engine: str, engine_version: str = "",
                    port: Any = None, db_subnet_group_name: str = "", vpc_security_group_ids: Any = None,
                    kms_key_id: str = "", tags: list[dict[str, str]] | None = None,
                    settings: dict[str, Any] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"DBClusterIdentifier": db_cluster_identifier, "SnapshotIdentifier": snapshot_arn,
                               "Engine": engine, "Tags": list(tags or [])}
    optional = {"EngineVersion": engine_version, "DBSubnetGroupName": db_subnet_group_name,
                "VpcSecurityGroupIds": list(vpc_security_group_ids or []), "KmsKeyId": kms_key_id,
                "Port": int(port) if port not in (None, "") else None, **(settings or {})}
    request.update({k: v for k, v in optional.items() if v not in (None, "", [], {})})
    return request


def instance_request(*, db_instance_identifier: str, db_cluster_identifier: str, engine: str,
                     db_instance_class: str, publicly_accessible: Any, auto_minor_version_upgrade: Any,
                     availability_zone: str = "", promotion_tier: Any = None,
                     tags: list[dict[str, str]] | None = None, settings: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    request: dict[str, Any] = {
        "DBInstanceIdentifier": db_instance_identifier, "DBClusterIdentifier": db_cluster_identifier,
        "Engine": engine, "DBInstanceClass": db_instance_class, "PubliclyAccessible": _bool(publicly_accessible),
        "AutoMinorVersionUpgrade": _bool(auto_minor_version_upgrade), "Tags": list(tags or [])}
    optional = {"AvailabilityZone": availability_zone,
                "PromotionTier": int(promotion_tier) if promotion_tier not in (None, "") else None,
                **(settings or {})}
    request.update({k: v for k, v in optional.items() if v not in (None, "", [], {})})
    return request


# request key -> (the setting's name for a person, what the describe answer holds, how to compare)
Reader = Callable[[dict[str, Any]], Any]
Same = Callable[[Any, Any], bool]


def _eq(wanted: Any, have: Any) -> bool:
    return wanted == have


def _same_text(wanted: Any, have: Any) -> bool:
    return _lower(wanted) == _lower(have)


def _same_set(wanted: Any, have: Any) -> bool:
    return sorted(wanted or []) == sorted(have or [])


def _same_scaling(wanted: Any, have: Any) -> bool:
    return all(float(wanted.get(k, 0)) == float((have or {}).get(k, -1)) for k in ("MinCapacity", "MaxCapacity"))


def _kms(wanted: Any, have: Any) -> bool:
    return bool(have) and same_kms_key(str(wanted), str(have))


CLUSTER_FIELDS: dict[str, tuple[str, Reader, Same]] = {
    "Port": ("port", lambda c: c.get("Port"), lambda w, h: int(w) == int(h or 0)),
    "EngineVersion": ("engine version", lambda c: c.get("EngineVersion"), _eq),
    # an unencrypted cluster has no key: "" (a difference), not "unknown"
    "KmsKeyId": ("KMS key", lambda c: (c.get("KmsKeyId") or "") if c.get("StorageEncrypted") else "", _kms),
    "DBSubnetGroupName": ("subnet group", lambda c: c.get("DBSubnetGroup"), _same_text),
    "VpcSecurityGroupIds": ("security groups",
                            lambda c: [g["VpcSecurityGroupId"] for g in c.get("VpcSecurityGroups", [])], _same_set),
    "DeletionProtection": ("deletion protection", lambda c: c.get("DeletionProtection"), _eq),
    "DBClusterParameterGroupName": ("cluster parameter group", lambda c: c.get("DBClusterParameterGroup"),
                                    _same_text),
    "CopyTagsToSnapshot": ("copy tags to snapshot", lambda c: c.get("CopyTagsToSnapshot"), _eq),
    "EnableIAMDatabaseAuthentication": ("IAM database authentication",
                                        lambda c: c.get("IAMDatabaseAuthenticationEnabled"), _eq),
    "EnableCloudwatchLogsExports": ("CloudWatch log exports", lambda c: c.get("EnabledCloudwatchLogsExports"),
                                    _same_set),
    "StorageType": ("storage type", lambda c: c.get("StorageType"), _same_text),
    "BackupRetentionPeriod": ("backup retention (days)", lambda c: c.get("BackupRetentionPeriod"), _eq),
    "ServerlessV2ScalingConfiguration": ("Serverless v2 capacity",
                                         lambda c: c.get("ServerlessV2ScalingConfiguration"), _same_scaling),
}
INSTANCE_FIELDS: dict[str, tuple[str, Reader, Same]] = {
    "DBInstanceClass": ("instance class", lambda i: i.get("DBInstanceClass"), _eq),
    "AvailabilityZone": ("Availability Zone", lambda i: i.get("AvailabilityZone"), _eq),
    "PubliclyAccessible": ("public access", lambda i: i.get("PubliclyAccessible"), _eq),
    "AutoMinorVersionUpgrade": ("auto minor version upgrade", lambda i: i.get("AutoMinorVersionUpgrade"), _eq),
    "PromotionTier": ("promotion tier", lambda i: i.get("PromotionTier"), _eq),
    "DBParameterGroupName": ("instance parameter group",
                             lambda i: (i.get("DBParameterGroups") or [{}])[0].get("DBParameterGroupName"), _same_text),
    "EnablePerformanceInsights": ("Performance Insights", lambda i: i.get("PerformanceInsightsEnabled"), _eq),
    "PerformanceInsightsRetentionPeriod": ("Performance Insights retention (days)",
                                           lambda i: i.get("PerformanceInsightsRetentionPeriod"), _eq),
}


def differences(request: dict[str, Any], existing: dict[str, Any],
                fields: dict[str, tuple[str, Reader, Same]]) -> tuple[list[str], list[str]]:
    """(differences, unverifiable): each difference as "NAME is HAVE, this run asks for WANTED"."""
    found, unverifiable = [], []
    for key, (name, read, same) in fields.items():
        if key not in request:
            continue
        have = read(existing)
        if have is None:
            unverifiable.append(name)
            continue
        if not same(request[key], have):
            found.append(f"{name} is {have!r}, this run asks for {request[key]!r}")
    return found, unverifiable


def encryption_difference(encrypted_at_rest: bool, cluster: dict[str, Any]) -> list[str]:
    """An unencrypted request met by an encrypted cluster or the other way round."""
    have = bool(cluster.get("StorageEncrypted"))
    if have == bool(encrypted_at_rest):
        return []
    return [f"encryption at rest is {have}, this run asks for {bool(encrypted_at_rest)}"]
