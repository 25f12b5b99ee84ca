"""The snapshot migration's precheck on the shared framework (checks/findings.py).

Every check reads AWS (RDS, KMS) and never writes; each returns Findings (errors block, warnings
are notes). `plan_snapshot_migration` runs them all, even after one fails, and either returns the
plan every later task follows or raises PrecheckFailed(findings, untouched="AWS") listing every
blocking problem. It takes plain boto3 clients, so it runs the same under Airflow and in tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from include.pgferry.aws.encryption import plan_encryption
from include.pgferry.aws.hooks import (
    RUN_TAG,
    SOURCE_TAG,
    error_code,
    find_cluster,
    find_instance,
    find_snapshot,
    is_ours,
    same_identifier,
)
from include.pgferry.aws.identifiers import (
    copy_snapshot_identifier,
    identifier_problems,
    manual_snapshot_identifier,
    primary_instance_identifier,
    replica_instance_identifiers,
)
from include.pgferry.aws.plan import MigrationPlan, MigrationRequest
from include.pgferry.aws.storage import storage_findings
from include.pgferry.aws.versions import TARGET_ENGINE, choose_aurora_version, source_engine_problems
from include.pgferry.checks.findings import Finding, check_name, error, log_findings, raise_if_blocking, run_checks, warning

# Errors that mean "this API is not there for you" rather than "the input is wrong".
UNAVAILABLE_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotImplemented",
                     "InvalidAction", "UnknownOperationException")


@dataclass
class SnapshotContext:
    """What the checks share: the request, the clients, and the facts read once from AWS."""
    req: MigrationRequest
    run_stamp: str
    run_id: str
    source_rds: Any
    target_rds: Any
    target_kms: Any | None = None
    engine_version: str = ""           # set by check_engine_version
    resuming: list[str] = field(default_factory=list)

    @property
    def copy_needed(self) -> bool:
        return self.req.target_region != self.req.source_region

    @cached_property
    def name_problems(self) -> list[str]:
        cluster_id = self.req.db_cluster_identifier
        problems = identifier_problems(cluster_id, "db_cluster_identifier")
        if not problems:  # derived names would only repeat the cluster name's problems
            for instance_id in self.instance_ids:
                problems += [f"{p} (instance name derived from db_cluster_identifier; choose a shorter one)"
                             for p in identifier_problems(instance_id, "DB instance identifier")]
        return problems

    @property
    def primary_id(self) -> str:
        return primary_instance_identifier(self.req.db_cluster_identifier)

    @property
    def replica_ids(self) -> list[str]:
        return replica_instance_identifiers(self.req.db_cluster_identifier, self.req.replica_count)

    @property
    def instance_ids(self) -> list[str]:
        return [self.primary_id, *self.replica_ids]

    @cached_property
    def source(self) -> dict[str, Any] | None:
        return find_instance(self.source_rds, self.req.source_db_instance_identifier)

    @property
    def source_arn(self) -> str:
        return (self.source or {}).get("DBInstanceArn", "")

    @cached_property
    def snapshot_region(self) -> str:
        given = self.req.snapshot_identifier
        return given.split(":")[3] if given.startswith("arn:") else self.req.source_region

    @cached_property
    def given_snapshot(self) -> dict[str, Any] | None:
        if not self.req.snapshot_identifier or self.snapshot_region != self.req.source_region:
            return None
        return find_snapshot(self.source_rds, self.req.snapshot_identifier)

    @property
    def snapshot_id(self) -> str:
        if self.given_snapshot is not None:
            return self.given_snapshot["DBSnapshotIdentifier"]
        if self.req.snapshot_identifier:
            return self.req.snapshot_identifier
        return manual_snapshot_identifier(self.req.source_db_instance_identifier, self.run_stamp)

    @property
    def target_snapshot_id(self) -> str:
        return copy_snapshot_identifier(self.snapshot_id) if self.copy_needed else self.snapshot_id

    @cached_property
    def what_is_restored(self) -> dict[str, Any]:
        """engine, version, allocated GiB, encryption: of the given snapshot, else of the source instance."""
        facts: dict[str, Any] = {"engine": "", "version": "", "allocated": None, "encrypted": False, "kms": ""}
        if self.source is not None:
            facts.update(engine=self.source.get("Engine", ""), version=self.source.get("EngineVersion", ""),
                         allocated=self.source.get("AllocatedStorage"),
                         encrypted=bool(self.source.get("StorageEncrypted")), kms=self.source.get("KmsKeyId") or "")
        snapshot = self.given_snapshot
        if snapshot is not None:
            facts.update(engine=snapshot.get("Engine", facts["engine"]),
                         version=snapshot.get("EngineVersion", facts["version"]),
                         allocated=snapshot.get("AllocatedStorage", facts["allocated"]),
                         encrypted=bool(snapshot.get("Encrypted")), kms=snapshot.get("KmsKeyId") or "")
        return facts

    @cached_property
    def existing_cluster(self) -> dict[str, Any] | None:
        return None if self.name_problems else find_cluster(self.target_rds, self.req.db_cluster_identifier)

    @property
    def cluster_is_ours(self) -> bool:
        return self.existing_cluster is not None and is_ours(self.existing_cluster, self.source_arn)

    @cached_property
    def encryption(self):
        facts = self.what_is_restored
        return plan_encryption(snapshot_encrypted=facts["encrypted"], snapshot_kms_key_id=facts["kms"],
                               kms_key_id=self.req.kms_key_id, cross_region=self.copy_needed,
                               target_region=self.req.target_region)


def check_identifiers(ctx: SnapshotContext) -> list[Finding]:
    """The seed's identifier rules, for the cluster and the instance names derived from it."""
    name = check_name(check_identifiers)
    found = [error(name, p) for p in ctx.name_problems]
    az, region = ctx.req.availability_zone, ctx.req.target_region
    if az and not az.startswith(region):
        found.append(error(name, f"availability_zone {az!r} is not in target_region {region}",
                           f"choose an Availability Zone of {region} (e.g. {region}a), or leave it empty"))
    return found


def check_source(ctx: SnapshotContext) -> list[Finding]:
    """An RDS PostgreSQL instance at 9.6.1 or later (the given snapshot's version counts), and its size."""
    name = check_name(check_source)
    found: list[Finding] = []
    if ctx.source is None:
        found.append(error(name, f"source DB instance {ctx.req.source_db_instance_identifier!r} not found in "
                                 f"{ctx.req.source_region}"))
    facts = ctx.what_is_restored
    if facts["engine"] or facts["version"]:
        found += [error(name, p) for p in source_engine_problems(facts["engine"], facts["version"])]
        problems, notes = storage_findings(facts["allocated"], f"source {ctx.req.source_db_instance_identifier}")
        found += [error(name, p) for p in problems] + [warning(name, n) for n in notes]
    return found


def check_given_snapshot(ctx: SnapshotContext) -> list[Finding]:
    """A given snapshot is in source_region, exists, is of the source instance and is available."""
    name = check_name(check_given_snapshot)
    given = ctx.req.snapshot_identifier
    if not given:
        return []
    if ctx.snapshot_region != ctx.req.source_region:
        return [error(name, f"snapshot_identifier {given!r} is in {ctx.snapshot_region}, not in source_region "
                            f"{ctx.req.source_region}")]
    snapshot = ctx.given_snapshot
    if snapshot is None:
        return [error(name, f"snapshot_identifier {given!r} not found in {ctx.req.source_region}")]
    found = []
    snapshot_id = snapshot["DBSnapshotIdentifier"]
    if not same_identifier(snapshot.get("DBInstanceIdentifier"), ctx.req.source_db_instance_identifier):
        found.append(error(name, f"snapshot {snapshot_id!r} is a snapshot of DB instance "
                                 f"{snapshot.get('DBInstanceIdentifier')!r}, not of "
                                 f"{ctx.req.source_db_instance_identifier!r}"))
    if str(snapshot.get("Status", "")).lower() != "available":
        found.append(error(name, f"snapshot {snapshot_id!r} is {snapshot.get('Status')!r}; it must be 'available'"))
    return found


def check_target_names(ctx: SnapshotContext) -> list[Finding]:
    """Cluster and instance names unused in the target Region, unless by this same migration."""
    name = check_name(check_target_names)
    if ctx.name_problems:
        return []
    found: list[Finding] = []
    cluster_id, region = ctx.req.db_cluster_identifier, ctx.req.target_region
    cluster = ctx.existing_cluster
    if cluster is not None:
        if ctx.cluster_is_ours:
            ctx.resuming.append(f"DB cluster {cluster_id} ({cluster.get('Status')})")
        else:
            found.append(error(name, f"db_cluster_identifier {cluster_id!r}: must be unique in the Region, and a DB "
                                     f"cluster of that name already exists in {region}",
                               "choose another db_cluster_identifier"))
    for instance_id in ctx.instance_ids:
        existing = find_instance(ctx.target_rds, instance_id)
        if existing is None:
            continue
        if ctx.cluster_is_ours and same_identifier(existing.get("DBClusterIdentifier"), cluster_id):
            ctx.resuming.append(f"DB instance {instance_id} ({existing.get('DBInstanceStatus')})")
        else:
            found.append(error(name, f"DB instance identifier {instance_id!r} (derived from db_cluster_identifier): "
                                     f"must be unique in the Region, and a DB instance of that name already exists "
                                     f"in {region}", "choose another db_cluster_identifier"))
    return found


def check_existing_copy(ctx: SnapshotContext) -> list[Finding]:
    """A snapshot already under the copy's name in the target Region must be of the source instance."""
    if not ctx.copy_needed:
        return []
    copy_id, region = ctx.target_snapshot_id, ctx.req.target_region
    existing = find_snapshot(ctx.target_rds, copy_id)
    if existing is None:
        return []
    if not same_identifier(existing.get("DBInstanceIdentifier"), ctx.req.source_db_instance_identifier):
        return [error(check_name(check_existing_copy),
                      f"a snapshot named {copy_id!r} (the copy's name) already exists in {region} and is of DB "
                      f"instance {existing.get('DBInstanceIdentifier')!r}")]
    ctx.resuming.append(f"snapshot copy {copy_id} ({existing.get('Status')})")
    return []


def check_engine_version(ctx: SnapshotContext) -> list[Finding]:
    """An Aurora PostgreSQL version that takes the source's version: same major, same or later minor."""
    name = check_name(check_engine_version)
    facts = ctx.what_is_restored
    version, region = facts["version"], ctx.req.target_region
    if not version or source_engine_problems(facts["engine"], version):
        return []
    try:
        versions = [v["EngineVersion"]
                    for page in ctx.target_rds.get_paginator("describe_db_engine_versions").paginate(Engine=TARGET_ENGINE)
                    for v in page["DBEngineVersions"]]
    except Exception as exc:
        if error_code(exc) not in UNAVAILABLE_CODES:
            raise
        return [warning(name, f"cannot list Aurora PostgreSQL versions in {region} ({error_code(exc)}): "
                              "RDS will choose the version at restore time")]
    chosen = choose_aurora_version(version, versions)
    if chosen is None:
        return [error(name, f"no Aurora PostgreSQL version in {region} takes a PostgreSQL {version} "
                            f"snapshot (same major version, same or later minor needed); offered: "
                            f"{', '.join(versions) or 'none'}; upgrade the source instance first")]
    ctx.engine_version = chosen
    return [warning(name, f"Aurora PostgreSQL {chosen} chosen for source PostgreSQL {version}")]


def check_instance_class(ctx: SnapshotContext) -> list[Finding]:
    """db_instance_class is orderable for the chosen Aurora version in the target Region."""
    name = check_name(check_instance_class)
    if not ctx.engine_version:
        return []
    try:
        options = [o for page in ctx.target_rds.get_paginator("describe_orderable_db_instance_options").paginate(
                       Engine=TARGET_ENGINE, EngineVersion=ctx.engine_version)
                   for o in page["OrderableDBInstanceOptions"]]
    except Exception as exc:
        if error_code(exc) not in UNAVAILABLE_CODES:
            raise
        return [warning(name, f"cannot list orderable instance classes ({error_code(exc)}): "
                              "db_instance_class not checked")]
    offered = sorted({o["DBInstanceClass"] for o in options})
    if offered and ctx.req.db_instance_class not in offered:
        return [error(name, f"db_instance_class {ctx.req.db_instance_class!r} is not offered for Aurora PostgreSQL "
                            f"{ctx.engine_version} in {ctx.req.target_region}; offered: {', '.join(offered)}")]
    return []


def check_encryption(ctx: SnapshotContext) -> list[Finding]:
    """The seed's encryption rule, and the KMS key exists where it will be used."""
    name = check_name(check_encryption)
    enc = ctx.encryption
    found = [error(name, p) for p in enc.problems]
    key_id, region = enc.copy_kms_key_id or enc.restore_kms_key_id, ctx.req.target_region
    if key_id and ctx.target_kms is not None:
        try:
            ctx.target_kms.describe_key(KeyId=key_id)
        except Exception as exc:
            code = error_code(exc)
            if code == "NotFoundException":
                found.append(error(name, f"kms_key_id {key_id!r} not found in {region}: KMS keys are regional",
                                   f"give a KMS key of {region}"))
            elif code in UNAVAILABLE_CODES:
                found.append(warning(name, f"cannot read KMS key {key_id} ({code}); RDS will check it"))
            else:
                raise
    return found


def check_subnet_group(ctx: SnapshotContext) -> list[Finding]:
    """A given DB subnet group exists in the target Region."""
    group = ctx.req.db_subnet_group_name
    if not group:
        return []
    try:
        ctx.target_rds.describe_db_subnet_groups(DBSubnetGroupName=group)
    except Exception as exc:
        if error_code(exc) not in ("DBSubnetGroupNotFoundFault", "DBSubnetGroupNotFound"):
            raise
        return [error(check_name(check_subnet_group), f"db_subnet_group_name {group!r} not found in "
                                                      f"{ctx.req.target_region}",
                      "create the DB subnet group there, or leave db_subnet_group_name empty")]
    return []


CHECKS = (check_identifiers, check_source, check_given_snapshot, check_target_names, check_existing_copy,
          check_engine_version, check_instance_class, check_encryption, check_subnet_group)


def _could_not_run(check: Any, exc: Exception) -> Finding:
    return error(check_name(check), f"could not run: {type(exc).__name__}: {exc}")


def run_snapshot_checks(ctx: SnapshotContext) -> list[Finding]:
    return run_checks(CHECKS, ctx, _could_not_run)


def plan_snapshot_migration(params: dict[str, Any], *, run_stamp: str, run_id: str, source_rds: Any, target_rds: Any,
                            target_kms: Any | None = None) -> MigrationPlan:
    """Check everything, write nothing: the plan (warnings in its notes), or PrecheckFailed with every finding.
    Every finding is logged."""
    ctx = SnapshotContext(MigrationRequest.from_params(params), run_stamp, run_id, source_rds, target_rds, target_kms)
    findings = run_snapshot_checks(ctx)
    log_findings(findings)
    raise_if_blocking(findings, untouched="AWS")
    req, enc, facts = ctx.req, ctx.encryption, ctx.what_is_restored
    tags = [{"Key": SOURCE_TAG, "Value": ctx.source_arn}, {"Key": RUN_TAG, "Value": run_id[:256]}]
    return MigrationPlan(
        source_region=req.source_region, target_region=req.target_region, copy_needed=ctx.copy_needed,
        source_db_instance_identifier=req.source_db_instance_identifier, source_db_instance_arn=ctx.source_arn,
        source_engine_version=facts["version"], source_snapshot_identifier=ctx.snapshot_id,
        snapshot_given=bool(req.snapshot_identifier), target_snapshot_identifier=ctx.target_snapshot_id,
        db_cluster_identifier=req.db_cluster_identifier, primary_instance_identifier=ctx.primary_id,
        replica_instance_identifiers=ctx.replica_ids, instance_identifiers=ctx.instance_ids, engine=TARGET_ENGINE,
        engine_version=ctx.engine_version, db_instance_class=req.db_instance_class, port=req.port,
        db_subnet_group_name=req.db_subnet_group_name, vpc_security_group_ids=req.vpc_security_group_ids,
        availability_zone=req.availability_zone, publicly_accessible=bool(req.publicly_accessible),
        auto_minor_version_upgrade=bool(req.auto_minor_version_upgrade), copy_kms_key_id=enc.copy_kms_key_id,
        restore_kms_key_id=enc.restore_kms_key_id, encrypted_at_rest=enc.encrypted_at_rest,
        allocated_storage_gib=facts["allocated"], resuming=ctx.resuming, tags=tags,
        notes=[f.message for f in findings if not f.blocking])
