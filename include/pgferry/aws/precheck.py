"""Precheck of the snapshot migration: every rule, read-only, all problems reported at once.

`build_plan` only describes things (RDS, KMS); it never writes. It returns the plan every later task
follows (names, regions, Aurora version, which KMS key goes where) or raises PrecheckFailed listing
every blocking problem. It takes plain boto3 clients, so it runs the same under Airflow and in tests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from include.pgferry.aws.encryption import plan_encryption
from include.pgferry.aws.hooks import error_code
from include.pgferry.aws.identifiers import (
    copy_snapshot_identifier,
    identifier_problems,
    manual_snapshot_identifier,
    primary_instance_identifier,
    replica_instance_identifiers,
)
from include.pgferry.aws.operators import describe_cluster, describe_instance, describe_snapshot
from include.pgferry.aws.storage import storage_findings
from include.pgferry.aws.versions import TARGET_ENGINE, choose_aurora_version, source_engine_problems

# Tags pgferry puts on what it creates. SOURCE_TAG marks a cluster as restored from that source, so
# a rerun continues with it instead of calling its name "already used".
SOURCE_TAG = "pgferry:source-db-instance"
RUN_TAG = "pgferry:dag-run"
# Errors that mean "this API is not there for you" rather than "the input is wrong".
UNAVAILABLE_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotImplemented",
                     "InvalidAction", "UnknownOperationException")


class PrecheckFailed(Exception):
    def __init__(self, problems: list[str], notes: list[str] | None = None) -> None:
        self.problems = problems
        self.notes = notes or []
        super().__init__(
            f"precheck found {len(problems)} problem(s); nothing was created in AWS:\n"
            + "\n".join(f"  - {p}" for p in problems))


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


def _tag_map(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("TagList", []) or []}


def build_plan(params: dict[str, Any], *, run_stamp: str, run_id: str, source_rds: Any, target_rds: Any,
               target_kms: Any | None = None) -> MigrationPlan:
    """Check everything, write nothing; the plan, or PrecheckFailed with every problem."""
    req = MigrationRequest.from_params(params)
    problems: list[str] = []
    notes: list[str] = []
    resuming: list[str] = []

    # Names: the seed's identifier rules, for the cluster and the instance names derived from it.
    cluster_id = req.db_cluster_identifier
    name_problems = identifier_problems(cluster_id, "db_cluster_identifier")
    primary_id = primary_instance_identifier(cluster_id)
    replica_ids = replica_instance_identifiers(cluster_id, req.replica_count)
    if not name_problems:  # derived names would only repeat the cluster name's problems
        for instance_id in [primary_id, *replica_ids]:
            name_problems += [f"{p} (instance name derived from db_cluster_identifier; choose a shorter one)"
                              for p in identifier_problems(instance_id, "DB instance identifier")]
    problems += name_problems
    if req.availability_zone and not req.availability_zone.startswith(req.target_region):
        problems.append(f"availability_zone {req.availability_zone!r} is not in target_region {req.target_region}")

    # Source: an RDS PostgreSQL instance at 9.6.1 or later (the snapshot's version counts when given).
    source_arn, engine, version, allocated, encrypted, kms = "", "", "", None, False, ""
    instance = describe_instance(source_rds, req.source_db_instance_identifier)
    if instance is None:
        problems.append(f"source DB instance {req.source_db_instance_identifier!r} not found in {req.source_region}")
    else:
        source_arn = instance.get("DBInstanceArn", "")
        engine, version = instance.get("Engine", ""), instance.get("EngineVersion", "")
        allocated = instance.get("AllocatedStorage")
        encrypted, kms = bool(instance.get("StorageEncrypted")), instance.get("KmsKeyId") or ""

    snapshot_id = req.snapshot_identifier
    arn_region = snapshot_id.split(":")[3] if snapshot_id.startswith("arn:") else req.source_region
    if arn_region != req.source_region:
        problems.append(f"snapshot_identifier {snapshot_id!r} is in {arn_region}, not in source_region "
                        f"{req.source_region}")
    elif snapshot_id:
        snapshot = describe_snapshot(source_rds, snapshot_id)
        if snapshot is None:
            problems.append(f"snapshot_identifier {snapshot_id!r} not found in {req.source_region}")
        else:
            snapshot_id = snapshot["DBSnapshotIdentifier"]
            if snapshot.get("DBInstanceIdentifier") != req.source_db_instance_identifier:
                problems.append(f"snapshot {snapshot_id!r} is a snapshot of DB instance "
                                f"{snapshot.get('DBInstanceIdentifier')!r}, not of {req.source_db_instance_identifier!r}")
            if str(snapshot.get("Status", "")).lower() != "available":
                problems.append(f"snapshot {snapshot_id!r} is {snapshot.get('Status')!r}; it must be 'available'")
            engine, version = snapshot.get("Engine", engine), snapshot.get("EngineVersion", version)
            allocated = snapshot.get("AllocatedStorage", allocated)
            encrypted, kms = bool(snapshot.get("Encrypted")), snapshot.get("KmsKeyId") or ""
    if not snapshot_id:
        snapshot_id = manual_snapshot_identifier(req.source_db_instance_identifier, run_stamp)
    if engine or version:
        problems += source_engine_problems(engine, version)
        storage_problems, storage_notes = storage_findings(allocated, f"source {req.source_db_instance_identifier}")
        problems += storage_problems
        notes += storage_notes

    # Target names not already used, unless by this same migration (then a rerun continues).
    cluster = describe_cluster(target_rds, cluster_id) if not name_problems else None
    cluster_is_ours = False
    if cluster is not None:
        if source_arn and _tag_map(cluster).get(SOURCE_TAG) == source_arn:
            cluster_is_ours = True
            resuming.append(f"DB cluster {cluster_id} ({cluster.get('Status')})")
        else:
            problems.append(f"db_cluster_identifier {cluster_id!r}: must be unique in the Region, and a DB cluster of "
                            f"that name already exists in {req.target_region}")
    if not name_problems:
        for instance_id in [primary_id, *replica_ids]:
            existing = describe_instance(target_rds, instance_id)
            if existing is None:
                continue
            if cluster_is_ours and existing.get("DBClusterIdentifier") == cluster_id:
                resuming.append(f"DB instance {instance_id} ({existing.get('DBInstanceStatus')})")
            else:
                problems.append(f"DB instance identifier {instance_id!r} (derived from db_cluster_identifier): must be "
                                f"unique in the Region, and a DB instance of that name already exists in "
                                f"{req.target_region}")

    copy_needed = req.target_region != req.source_region
    target_snapshot_id = copy_snapshot_identifier(snapshot_id) if copy_needed else snapshot_id
    if copy_needed:
        existing_copy = describe_snapshot(target_rds, target_snapshot_id)
        if existing_copy is not None:
            if existing_copy.get("DBInstanceIdentifier") != req.source_db_instance_identifier:
                problems.append(f"a snapshot named {target_snapshot_id!r} (the copy's name) already exists in "
                                f"{req.target_region} and is of DB instance {existing_copy.get('DBInstanceIdentifier')!r}")
            else:
                resuming.append(f"snapshot copy {target_snapshot_id} ({existing_copy.get('Status')})")

    # Aurora version for the source's version, and the instance class on it.
    engine_version = ""
    if version and not source_engine_problems(engine, version):
        engine_version = _choose_engine_version(target_rds, version, req, problems, notes)
    if engine_version:
        _check_instance_class(target_rds, engine_version, req, problems, notes)

    # Encryption: the seed's rule, and the key exists where it will be used.
    enc = plan_encryption(snapshot_encrypted=encrypted, snapshot_kms_key_id=kms, kms_key_id=req.kms_key_id,
                          cross_region=copy_needed, target_region=req.target_region)
    problems += list(enc.problems)
    key_to_check = enc.copy_kms_key_id or enc.restore_kms_key_id
    if key_to_check and target_kms is not None:
        _check_kms_key(target_kms, key_to_check, req.target_region, problems, notes)

    if req.db_subnet_group_name:
        try:
            target_rds.describe_db_subnet_groups(DBSubnetGroupName=req.db_subnet_group_name)
        except Exception as exc:
            if error_code(exc) not in ("DBSubnetGroupNotFoundFault", "DBSubnetGroupNotFound"):
                raise
            problems.append(f"db_subnet_group_name {req.db_subnet_group_name!r} not found in {req.target_region}")

    if problems:
        raise PrecheckFailed(problems, notes)

    tags = [{"Key": SOURCE_TAG, "Value": source_arn}, {"Key": RUN_TAG, "Value": run_id[:256]}]
    return MigrationPlan(
        source_region=req.source_region, target_region=req.target_region, copy_needed=copy_needed,
        source_db_instance_identifier=req.source_db_instance_identifier, source_db_instance_arn=source_arn,
        source_engine_version=version, source_snapshot_identifier=snapshot_id, snapshot_given=bool(req.snapshot_identifier),
        target_snapshot_identifier=target_snapshot_id, db_cluster_identifier=cluster_id,
        primary_instance_identifier=primary_id, replica_instance_identifiers=replica_ids,
        instance_identifiers=[primary_id, *replica_ids], engine=TARGET_ENGINE, engine_version=engine_version,
        db_instance_class=req.db_instance_class, port=req.port, db_subnet_group_name=req.db_subnet_group_name,
        vpc_security_group_ids=req.vpc_security_group_ids, availability_zone=req.availability_zone,
        publicly_accessible=bool(req.publicly_accessible), auto_minor_version_upgrade=bool(req.auto_minor_version_upgrade),
        copy_kms_key_id=enc.copy_kms_key_id, restore_kms_key_id=enc.restore_kms_key_id,
        encrypted_at_rest=enc.encrypted_at_rest, allocated_storage_gib=allocated, resuming=resuming, tags=tags,
        notes=notes,
    )


def _choose_engine_version(target_rds: Any, source_version: str, req: MigrationRequest, problems: list[str],
                           notes: list[str]) -> str:
    try:
        versions = [v["EngineVersion"]
                    for page in target_rds.get_paginator("describe_db_engine_versions").paginate(Engine=TARGET_ENGINE)
                    for v in page["DBEngineVersions"]]
    except Exception as exc:
        if error_code(exc) not in UNAVAILABLE_CODES:
            raise
        notes.append(f"cannot list Aurora PostgreSQL versions in {req.target_region} ({error_code(exc)}): "
                     "RDS will choose the version at restore time")
        return ""
    chosen = choose_aurora_version(source_version, versions)
    if chosen is None:
        problems.append(f"no Aurora PostgreSQL version in {req.target_region} takes a PostgreSQL {source_version} "
                        f"snapshot (same major version, same or later minor needed); offered: "
                        f"{', '.join(versions) or 'none'}; upgrade the source instance first")
        return ""
    notes.append(f"Aurora PostgreSQL {chosen} chosen for source PostgreSQL {source_version}")
    return chosen


def _check_instance_class(target_rds: Any, engine_version: str, req: MigrationRequest, problems: list[str],
                          notes: list[str]) -> None:
    try:
        options = [o for page in target_rds.get_paginator("describe_orderable_db_instance_options").paginate(
                       Engine=TARGET_ENGINE, EngineVersion=engine_version)
                   for o in page["OrderableDBInstanceOptions"]]
    except Exception as exc:
        if error_code(exc) not in UNAVAILABLE_CODES:
            raise
        notes.append(f"cannot list orderable instance classes ({error_code(exc)}): db_instance_class not checked")
        return
    offered = sorted({o["DBInstanceClass"] for o in options})
    if offered and req.db_instance_class not in offered:
        problems.append(f"db_instance_class {req.db_instance_class!r} is not offered for Aurora PostgreSQL "
                        f"{engine_version} in {req.target_region}; offered: {', '.join(offered)}")


def _check_kms_key(kms: Any, key_id: str, region: str, problems: list[str], notes: list[str]) -> None:
    try:
        kms.describe_key(KeyId=key_id)
    except Exception as exc:
        code = error_code(exc)
        if code == "NotFoundException":
            problems.append(f"kms_key_id {key_id!r} not found in {region}: KMS keys are regional")
        elif code in UNAVAILABLE_CODES:
            notes.append(f"cannot read KMS key {key_id} ({code}); RDS will check it")
        else:
            raise

