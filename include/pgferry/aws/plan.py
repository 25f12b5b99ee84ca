"""The snapshot migration's typed plan: the request (the DAG's params, normalised) and the plan every
task after precheck follows (XCom form: `as_dict`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> MigrationRequest:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in params.items() if k in known}
        request = cls(**values)
        request.target_region = request.target_region or request.source_region
        request.snapshot_identifier = (request.snapshot_identifier or "").strip()
        request.kms_key_id = (request.kms_key_id or "").strip()
        # the trigger form sends null for an optional field that was typed in and cleared
        request.db_subnet_group_name = (request.db_subnet_group_name or "").strip()
        request.availability_zone = (request.availability_zone or "").strip()
        request.vpc_security_group_ids = list(request.vpc_security_group_ids or [])
        request.port, request.replica_count = int(request.port), int(request.replica_count)
        return request


@dataclass
class MigrationPlan:
    source_region: str
    target_region: str
    copy_needed: bool
    source_db_instance_identifier: str
    source_db_instance_arn: str
    source_engine_version: str
    source_snapshot_identifier: str       # in source_region; taken by the DAG unless given
    snapshot_given: bool
    target_snapshot_identifier: str       # the snapshot the cluster is restored from, in target_region
    db_cluster_identifier: str
    primary_instance_identifier: str
    replica_instance_identifiers: list[str]
    instance_identifiers: list[str]
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
    allocated_storage_gib: int | None
    resuming: list[str]                   # resources found from an earlier run of the same migration
    tags: list[dict[str, str]]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
