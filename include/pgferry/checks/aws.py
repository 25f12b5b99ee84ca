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
    MADE_TAG,
    RUN_TAG,
    SOURCE_TAG,
    error_code,
    find_cluster,
    find_instance,
    find_snapshot,
    is_copy_of,
    is_ours,
    restored_from,
    same_identifier,
    same_snapshot,
    snapshot_arn,
    snapshot_name_from,
)
from include.pgferry.aws.identifiers import (
    copy_snapshot_identifier,
    identifier_problems,
    manual_snapshot_identifier,
    primary_instance_identifier,
    replica_instance_identifiers,
)
from include.pgferry.aws.plan import MigrationPlan, MigrationRequest
from include.pgferry.aws.settings import (
    CLUSTER_FIELDS,
    INSTANCE_FIELDS,
    differences,
    encryption_difference,
    instance_request,
    restore_request,
)
from include.pgferry.aws.states import CLUSTER_FAILED, SNAPSHOT_FAILED
from include.pgferry.aws.storage import storage_findings, wait_attempts, wait_budget_hours
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
    subnet_azs: list[str] = field(default_factory=list)   # set by check_subnet_group
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
    def snapshot_needed(self) -> bool:
        """A finished (or half-finished) migration's cluster exists: no new snapshot, no copy."""
        return not self.cluster_is_ours

    @property
    def snapshot_id(self) -> str:
        if self.given_snapshot is not None:
            return self.given_snapshot["DBSnapshotIdentifier"]
        if self.req.snapshot_identifier:
            return self.req.snapshot_identifier
        if not self.snapshot_needed and restored_from(self.existing_cluster or {}):
            return snapshot_name_from(restored_from(self.existing_cluster or {}))
        return manual_snapshot_identifier(self.req.source_db_instance_identifier, self.run_stamp)

    @property
    def source_snapshot_arn(self) -> str:
        if self.given_snapshot is not None:
            return self.given_snapshot.get("DBSnapshotArn", "")
        return snapshot_arn(self.source_arn, self.req.source_region, self.snapshot_id)

    @property
    def target_snapshot_id(self) -> str:
        if not self.snapshot_needed and not self.req.snapshot_identifier:
            return self.snapshot_id  # the snapshot the existing cluster records, in the target Region
        return copy_snapshot_identifier(self.snapshot_id) if self.copy_needed else self.snapshot_id

    @property
    def target_snapshot_arn(self) -> str:
        if not self.copy_needed and self.given_snapshot is not None:
            return self.source_snapshot_arn
        return snapshot_arn(self.source_arn, self.req.target_region, self.target_snapshot_id)

    def instance_plan(self) -> list[dict[str, Any]]:
        """Each instance's AZ and promotion tier: the primary where asked (or the subnet group's first
        AZ when replicas follow), replicas round the subnet group's other AZs first, so a failover
        lands in another AZ; tiers in creation order (0 = the primary, the first to take it back)."""
        azs = self.subnet_azs
        primary_az = self.req.availability_zone or (azs[0] if azs and self.replica_ids else "")
        spread = [az for az in azs if az != primary_az] + ([primary_az] if primary_az in azs else [])
        plan = [{"db_instance_identifier": self.primary_id, "availability_zone": primary_az, "promotion_tier": 0}]
        for n, replica in enumerate(self.replica_ids):
            plan.append({"db_instance_identifier": replica,
                         "availability_zone": spread[n % len(spread)] if spread else "",
                         "promotion_tier": min(n + 1, 15)})
        return plan

    @property
    def tags(self) -> list[dict[str, str]]:
        """On the cluster and its instances: pgferry's, then the user's."""
        return [{"Key": SOURCE_TAG, "Value": self.source_arn}, {"Key": RUN_TAG, "Value": self.run_id[:256]},
                *({"Key": k, "Value": v} for k, v in self.req.tags.items())]

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
        """Made by pgferry from this source (one answer: aws/hooks.is_ours)."""
        return self.existing_cluster is not None and is_ours(self.existing_cluster, self.source_arn)

    @cached_property
    def encryption(self):
        facts = self.what_is_restored
        return plan_encryption(snapshot_encrypted=facts["encrypted"], snapshot_kms_key_id=facts["kms"],
                               kms_key_id=self.req.kms_key_id, cross_region=self.copy_needed,
                               target_region=self.req.target_region)


def check_normalised_identifiers(ctx: SnapshotContext) -> list[Finding]:
    """RDS stores identifiers in lower case; pgferry uses them so from the start (and says so)."""
    return [warning(check_name(check_normalised_identifiers),
                    f"{name} {given!r} is used as {used!r}: RDS stores identifiers in lower case")
            for name, (given, used) in ctx.req.normalised.items()]


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
    """A snapshot already under the copy's name in the target Region must be a copy of exactly the
    chosen source snapshot (its SourceDBSnapshotIdentifier), never a same-named other one."""
    if not ctx.copy_needed or not ctx.snapshot_needed:
        return []
    copy_id, region = ctx.target_snapshot_id, ctx.req.target_region
    existing = find_snapshot(ctx.target_rds, copy_id)
    if existing is None:
        return []
    source = ctx.source_snapshot_arn
    if not is_copy_of(existing, source):
        origin = existing.get("SourceDBSnapshotIdentifier") or "not a copy"
        return [error(check_name(check_existing_copy),
                      f"a snapshot named {copy_id!r} (the copy's name) already exists in {region} and is not a copy of "
                      f"{source}: it is of DB instance {existing.get('DBInstanceIdentifier')!r}, source {origin}",
                      f"delete or rename snapshot {copy_id} in {region}, or choose another snapshot_identifier")]
    status = str(existing.get("Status", "")).lower()
    if status in SNAPSHOT_FAILED:
        return [error(check_name(check_existing_copy),
                      f"snapshot copy {copy_id} in {region} (from an earlier run) is {status!r}",
                      f"aws rds delete-db-snapshot --db-snapshot-identifier {copy_id} --region {region}, then run again")]
    ctx.resuming.append(f"snapshot copy {copy_id} ({existing.get('Status')})")
    return []


def check_existing_cluster(ctx: SnapshotContext) -> list[Finding]:
    """A cluster of this migration (a rerun) is continued with only when it is not failed, was restored
    from the snapshot this run names, and has every setting this run asks for."""
    cluster = ctx.existing_cluster
    if cluster is None or not ctx.cluster_is_ours:
        return []
    name, cluster_id, region = check_name(check_existing_cluster), ctx.req.db_cluster_identifier, ctx.req.target_region
    found: list[Finding] = []
    status = str(cluster.get("Status", "")).lower()
    if status in CLUSTER_FAILED:
        found.append(error(name, f"DB cluster {cluster_id} (from an earlier run) is {status!r}",
                           CLUSTER_FAILED[status]))
    recorded = restored_from(cluster)
    if not recorded:
        found.append(error(name, f"DB cluster {cluster_id} has no pgferry:restored-from-snapshot tag: which snapshot "
                                 "it was restored from cannot be checked", "choose another db_cluster_identifier"))
    elif ctx.req.snapshot_identifier and not same_snapshot(recorded, ctx.target_snapshot_id):
        found.append(error(name, f"DB cluster {cluster_id} was restored from snapshot {recorded}, this run asks for "
                                 f"{ctx.req.snapshot_identifier} ({ctx.target_snapshot_id} in {region})",
                           f"run with snapshot_identifier={snapshot_name_from(recorded)!r} (or empty), or choose "
                           "another db_cluster_identifier"))
    request = restore_request(db_cluster_identifier=cluster_id, snapshot_arn=recorded, engine=TARGET_ENGINE,
                              engine_version=ctx.engine_version, port=ctx.req.port,
                              db_subnet_group_name=ctx.req.db_subnet_group_name,
                              vpc_security_group_ids=ctx.req.vpc_security_group_ids,
                              kms_key_id=ctx.encryption.restore_kms_key_id, settings=ctx.req.cluster_settings())
    diffs, unverifiable = differences(request, cluster, CLUSTER_FIELDS)
    diffs += encryption_difference(ctx.encryption.encrypted_at_rest, cluster)
    fix = ("pgferry does not modify an existing cluster: run with the cluster's settings, or choose another "
           "db_cluster_identifier")
    if diffs:
        found.append(error(name, f"DB cluster {cluster_id} exists in {region} (made by pgferry from this source) but "
                                 "differs from what this run asks for: " + "; ".join(diffs), fix))
    for wanted in ctx.instance_plan():
        instance = find_instance(ctx.target_rds, wanted["db_instance_identifier"])
        if instance is None or not same_identifier(instance.get("DBClusterIdentifier"), cluster_id):
            continue
        request = instance_request(
            db_instance_identifier=wanted["db_instance_identifier"], db_cluster_identifier=cluster_id,
            engine=TARGET_ENGINE, db_instance_class=ctx.req.db_instance_class,
            publicly_accessible=ctx.req.publicly_accessible, auto_minor_version_upgrade=ctx.req.auto_minor_version_upgrade,
            availability_zone=wanted["availability_zone"], promotion_tier=wanted["promotion_tier"],
            settings=ctx.req.instance_settings())
        instance_diffs, more = differences(request, instance, INSTANCE_FIELDS)
        unverifiable += more
        if instance_diffs:
            found.append(error(name, f"DB instance {wanted['db_instance_identifier']} of cluster {cluster_id} differs "
                                     "from what this run asks for: " + "; ".join(instance_diffs), fix))
    if unverifiable:
        found.append(warning(name, f"not compared with the existing cluster (RDS did not return them): "
                                   f"{', '.join(sorted(set(unverifiable)))}"))
    return found


class ApiUnavailable(Exception):
    """A describe call this account or endpoint cannot make (UNAVAILABLE_CODES): checked later, or by RDS."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _list_all(client: Any, operation: str, key: str, **kwargs) -> list[dict]:
    """Every item of a paginated describe call; ApiUnavailable when the API is not there for this caller."""
    try:
        return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]
    except Exception as exc:
        if error_code(exc) not in UNAVAILABLE_CODES:
            raise
        raise ApiUnavailable(error_code(exc)) from exc


def check_engine_version(ctx: SnapshotContext) -> list[Finding]:
    """An Aurora PostgreSQL version that takes the source's version: same major, same or later minor."""
    name = check_name(check_engine_version)
    facts = ctx.what_is_restored
    version, region = facts["version"], ctx.req.target_region
    if not version or source_engine_problems(facts["engine"], version):
        return []
    try:
        versions = [v["EngineVersion"] for v in _list_all(ctx.target_rds, "describe_db_engine_versions",
                                                         "DBEngineVersions", Engine=TARGET_ENGINE)]
    except ApiUnavailable as exc:
        return [warning(name, f"cannot list Aurora PostgreSQL versions in {region} ({exc.code}): "
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
        options = _list_all(ctx.target_rds, "describe_orderable_db_instance_options", "OrderableDBInstanceOptions",
                            Engine=TARGET_ENGINE, EngineVersion=ctx.engine_version)
    except ApiUnavailable as exc:
        return [warning(name, f"cannot list orderable instance classes ({exc.code}): "
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
    name = check_name(check_subnet_group)
    try:
        found = ctx.target_rds.describe_db_subnet_groups(DBSubnetGroupName=group)["DBSubnetGroups"][0]
    except Exception as exc:
        if error_code(exc) not in ("DBSubnetGroupNotFoundFault", "DBSubnetGroupNotFound"):
            raise
        return [error(name, f"db_subnet_group_name {group!r} not found in {ctx.req.target_region}",
                      "create the DB subnet group there, or leave db_subnet_group_name empty")]
    ctx.subnet_azs = sorted({s["SubnetAvailabilityZone"]["Name"] for s in found.get("Subnets", [])
                             if s.get("SubnetAvailabilityZone", {}).get("Name")})
    az = ctx.req.availability_zone
    if az and ctx.subnet_azs and az not in ctx.subnet_azs:
        return [error(name, f"availability_zone {az!r} is not one of DB subnet group {group}'s zones "
                            f"({', '.join(ctx.subnet_azs)})", "choose one of them, or leave availability_zone empty")]
    return []


def check_replica_placement(ctx: SnapshotContext) -> list[Finding]:
    """Replicas go round the subnet group's AZs; without a subnet group RDS places them."""
    if ctx.replica_ids and not ctx.subnet_azs:
        return [warning(check_name(check_replica_placement),
                        "no db_subnet_group_name: RDS places the replicas (possibly all in one AZ)",
                        "give db_subnet_group_name to spread them over its Availability Zones")]
    if ctx.replica_ids:
        placed = ", ".join(f"{i['db_instance_identifier']} in {i['availability_zone']} (tier {i['promotion_tier']})"
                           for i in ctx.instance_plan())
        return [warning(check_name(check_replica_placement), f"instances: {placed}")]
    return []


def check_parameter_groups(ctx: SnapshotContext) -> list[Finding]:
    """Given cluster and instance parameter groups exist in the target Region."""
    name, region, found = check_name(check_parameter_groups), ctx.req.target_region, []
    lookups = ((ctx.req.db_cluster_parameter_group_name, "db_cluster_parameter_group_name",
                ctx.target_rds.describe_db_cluster_parameter_groups, "DBClusterParameterGroupName",
                "aws rds create-db-cluster-parameter-group"),
               (ctx.req.db_parameter_group_name, "db_parameter_group_name", ctx.target_rds.describe_db_parameter_groups,
                "DBParameterGroupName", "aws rds create-db-parameter-group"))
    for group, param, describe, key, command in lookups:
        if not group:
            continue
        try:
            describe(**{key: group})
        except Exception as exc:
            if "NotFound" not in error_code(exc):
                raise
            found.append(error(name, f"{param} {group!r} not found in {region}",
                               f"{command} --region {region} ... (family aurora-postgresql<major>), or leave it empty"))
    return found


def check_production_settings(ctx: SnapshotContext) -> list[Finding]:
    """Serverless v2 capacity, user tags."""
    name, found = check_name(check_production_settings), []
    if ctx.req.serverless:
        scaling = ctx.req.serverless_v2_scaling or {}
        low, high = float(scaling.get("min_capacity", 0.5)), float(scaling.get("max_capacity", 16))
        if low > high:
            found.append(error(name, f"serverless_v2_scaling: min_capacity {low} is above max_capacity {high}",
                               "make min_capacity <= max_capacity"))
    reserved = sorted(k for k in ctx.req.tags if k.lower().startswith(("pgferry:", "aws:")))
    if reserved:
        found.append(error(name, f"tags {reserved}: the prefixes pgferry: and aws: are reserved",
                           "rename those tags"))
    return found


CHECKS = (check_normalised_identifiers, check_identifiers, check_source, check_given_snapshot, check_target_names,
          check_existing_copy, check_engine_version, check_instance_class, check_encryption, check_subnet_group,
          check_replica_placement, check_parameter_groups, check_production_settings, check_existing_cluster)


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
    hours = wait_budget_hours(facts["allocated"], min_wait_hours=req.min_wait_hours,
                              wait_hours_per_tib=req.wait_hours_per_tib, max_wait_hours=req.max_wait_hours)
    delay = int(req.poll_interval_seconds)
    instances = ctx.instance_plan()
    notes = [f.message for f in findings if not f.blocking]
    if not ctx.snapshot_needed:
        notes.append(f"no new snapshot and no copy: DB cluster {req.db_cluster_identifier} exists and was restored "
                     f"from {ctx.target_snapshot_id}")
    return MigrationPlan(
        source_region=req.source_region, target_region=req.target_region, copy_needed=ctx.copy_needed,
        snapshot_needed=ctx.snapshot_needed,
        source_db_instance_identifier=req.source_db_instance_identifier, source_db_instance_arn=ctx.source_arn,
        source_engine_version=facts["version"], source_snapshot_identifier=ctx.snapshot_id,
        snapshot_given=bool(req.snapshot_identifier), target_snapshot_identifier=ctx.target_snapshot_id,
        target_snapshot_arn=ctx.target_snapshot_arn,
        db_cluster_identifier=req.db_cluster_identifier, primary_instance_identifier=ctx.primary_id,
        replica_instance_identifiers=ctx.replica_ids, instance_identifiers=ctx.instance_ids,
        primary_instance=instances[:1], replica_instances=instances[1:], engine=TARGET_ENGINE,
        engine_version=ctx.engine_version, db_instance_class=req.db_instance_class, port=req.port,
        db_subnet_group_name=req.db_subnet_group_name, vpc_security_group_ids=req.vpc_security_group_ids,
        availability_zone=instances[0]["availability_zone"], publicly_accessible=bool(req.publicly_accessible),
        auto_minor_version_upgrade=bool(req.auto_minor_version_upgrade), copy_kms_key_id=enc.copy_kms_key_id,
        restore_kms_key_id=enc.restore_kms_key_id, encrypted_at_rest=enc.encrypted_at_rest,
        cluster_settings=req.cluster_settings(), instance_settings=req.instance_settings(),
        allocated_storage_gib=facts["allocated"], resuming=ctx.resuming, tags=ctx.tags,
        snapshot_tags=[*ctx.tags, {"Key": MADE_TAG, "Value": "pgferry"}],
        delete_snapshots_when_done=bool(req.delete_snapshots_when_done),
        max_copies_in_flight_per_region=int(req.max_copies_in_flight_per_region), wait_hours=round(hours, 3),
        waiter_delay=delay, waiter_max_attempts=wait_attempts(hours, delay),
        notes=notes)
