"""RDS lookups for the snapshot path, in one place: hooks, `find_*`, `create_or_find`, "is it ours".

Every task and the precheck look resources up through these functions, so "absent", "already
exists" and "made by this migration" mean the same thing everywhere. Provider imports are inside
the functions: the precheck and tests call them with plain boto3 clients too.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from include.pgferry.aws.identifiers import snapshot_name_from

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.rds import RdsHook

log = logging.getLogger(__name__)

# Tags pgferry puts on what it creates. SOURCE_TAG marks a cluster (and pgferry's snapshots) as made
# from that source instance; SNAPSHOT_TAG records the snapshot ARN a cluster was restored from;
# MADE_TAG marks a snapshot or copy pgferry itself made (only those are ever cleaned up).
SOURCE_TAG = "pgferry:source-db-instance"
SNAPSHOT_TAG = "pgferry:restored-from-snapshot"
RUN_TAG = "pgferry:dag-run"
MADE_TAG = "pgferry:made-by"
# Tags that say which run made a thing; never part of "is it ours".
RUN_SPECIFIC_TAGS = frozenset({RUN_TAG})

SNAPSHOT_NOT_FOUND = ("DBSnapshotNotFound", "DBSnapshotNotFoundFault")
CLUSTER_NOT_FOUND = ("DBClusterNotFoundFault", "DBClusterNotFound")
INSTANCE_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault")
SNAPSHOT_EXISTS = ("DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault")
CLUSTER_EXISTS = ("DBClusterAlreadyExistsFault", "DBClusterAlreadyExists")
INSTANCE_EXISTS = ("DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault")


def rds_hook(aws_conn_id: str | None, region_name: str | None, verify: bool | str | None = None,
             botocore_config: dict[str, Any] | None = None) -> RdsHook:
    from airflow.providers.amazon.aws.hooks.rds import RdsHook

    return RdsHook(aws_conn_id=aws_conn_id, region_name=region_name, verify=verify, config=botocore_config)


def kms_client(aws_conn_id: str | None, region_name: str | None) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=aws_conn_id, region_name=region_name, client_type="kms").conn


# What every operator and sensor here templates, as the provider's `aws_template_fields()` does.
AWS_TEMPLATE_FIELDS = ("aws_conn_id", "region_name", "verify")


def aws_template_fields(*fields: str) -> tuple[str, ...]:
    return tuple(sorted(set(AWS_TEMPLATE_FIELDS) | set(fields)))


class RdsHookParams:
    """`aws_conn_id`, `region_name`, `verify`, `botocore_config` and a `hook` (the provider's RdsHook) built
    on first use: what the provider's AwsBaseOperator / AwsBaseSensor give through AwsBaseHookMixin, in one
    place for every operator and sensor of the snapshot path. Not those classes themselves: their module
    imports boto3 and botocore, which would add ~0.4 s to every parse of the DAG file (0.2 s -> 0.6 s measured)
    against the rule that parsing loads nothing heavy. Put it before BaseOperator in the bases."""

    def __init__(self, *, aws_conn_id: str | None = "aws_default", region_name: str | None = None,
                 verify: bool | str | None = None, botocore_config: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    @cached_property
    def hook(self) -> RdsHook:
        return rds_hook(self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    def trigger_kwargs(self) -> dict[str, Any]:
        """What a trigger needs to rebuild the same hook in the triggerer."""
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name, "verify": self.verify,
                "botocore_config": self.botocore_config}


def format_tags(tags: Any) -> list[dict[str, str]]:
    """The provider's format_tags ({k: v} or [{"Key", "Value"}] -> the list boto takes), imported on use."""
    from airflow.providers.amazon.aws.utils.tags import format_tags as provider_format_tags

    return [dict(t) for t in provider_format_tags(tags or [])]


def validate_event(event: dict[str, Any] | None) -> dict[str, Any]:
    """The provider's validate_execute_complete_event, imported on use."""
    from airflow.providers.amazon.aws.utils import validate_execute_complete_event

    return validate_execute_complete_event(event)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def same_identifier(a: str | None, b: str | None) -> bool:
    """RDS stores identifiers in lower case: compare them so."""
    return (a or "").lower() == (b or "").lower()


def snapshot_lookup(identifier: str) -> dict[str, Any]:
    """DescribeDBSnapshots arguments for one snapshot by name or ARN: RDS finds its own snapshots by
    name, and an automated (`rds:`) one only with SnapshotType="automated"."""
    name = snapshot_name_from(identifier)
    kwargs: dict[str, Any] = {"DBSnapshotIdentifier": name}
    if name.startswith("rds:"):
        kwargs["SnapshotType"] = "automated"
    return kwargs


def cluster_lookup(identifier: str) -> dict[str, Any]:
    return {"DBClusterIdentifier": identifier}


def cluster_instances_lookup(cluster_identifier: str) -> dict[str, Any]:
    return {"Filters": [{"Name": "db-cluster-id", "Values": [cluster_identifier]}]}


def _absent(exc: BaseException, not_found: tuple[str, ...]) -> None:
    """An RDS "not found" answer means absent (None); anything else is raised again."""
    if error_code(exc) not in not_found:
        raise exc


def _first(answer: dict[str, Any], result_key: str) -> dict[str, Any] | None:
    found = answer[result_key]
    return found[0] if found else None


def _find(describe: Callable[..., dict[str, Any]], result_key: str, not_found: tuple[str, ...],
          **kwargs: Any) -> dict[str, Any] | None:
    try:
        return _first(describe(**kwargs), result_key)
    except Exception as exc:
        return _absent(exc, not_found)


async def _find_async(describe: Callable[..., Any], result_key: str, not_found: tuple[str, ...],
                      **kwargs: Any) -> dict[str, Any] | None:
    """`_find` for an aiobotocore client (the triggerer's)."""
    try:
        return _first(await describe(**kwargs), result_key)
    except Exception as exc:
        return _absent(exc, not_found)


def find_snapshot(conn: Any, identifier: str) -> dict[str, Any] | None:
    """A DB snapshot by name or ARN (of this client's Region), automated ones included; None when absent."""
    return _find(conn.describe_db_snapshots, "DBSnapshots", SNAPSHOT_NOT_FOUND, **snapshot_lookup(identifier))


def find_cluster(conn: Any, identifier: str) -> dict[str, Any] | None:
    return _find(conn.describe_db_clusters, "DBClusters", CLUSTER_NOT_FOUND, **cluster_lookup(identifier))


def find_instance(conn: Any, identifier: str) -> dict[str, Any] | None:
    return _find(conn.describe_db_instances, "DBInstances", INSTANCE_NOT_FOUND, DBInstanceIdentifier=identifier)


def cluster_instances(conn: Any, cluster_identifier: str) -> list[dict[str, Any]]:
    return conn.describe_db_instances(**cluster_instances_lookup(cluster_identifier))["DBInstances"]


async def find_snapshot_async(client: Any, identifier: str) -> dict[str, Any] | None:
    return await _find_async(client.describe_db_snapshots, "DBSnapshots", SNAPSHOT_NOT_FOUND,
                             **snapshot_lookup(identifier))


async def find_cluster_async(client: Any, identifier: str) -> dict[str, Any] | None:
    return await _find_async(client.describe_db_clusters, "DBClusters", CLUSTER_NOT_FOUND,
                             **cluster_lookup(identifier))


async def cluster_instances_async(client: Any, cluster_identifier: str) -> list[dict[str, Any]]:
    return (await client.describe_db_instances(**cluster_instances_lookup(cluster_identifier)))["DBInstances"]


def writer_identifier(cluster: dict[str, Any]) -> str:
    """The DB instance identifier of a cluster's writer ('' while it has none)."""
    return next((m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", []) if m.get("IsClusterWriter")),
                "")


def create_or_find(what: str, find: Callable[[], dict[str, Any] | None], create: Callable[[], dict[str, Any]],
                   exists_codes: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
    """(resource, created): the resource found, else created; an "already exists" answer to the
    create (a race with another try) counts as found."""
    found = find()
    if found is not None:
        return found, False
    log.info("creating %s", what)
    try:
        return create(), True
    except Exception as exc:
        if error_code(exc) not in exists_codes:
            raise
        found = find()
        if found is None:
            raise
        return found, False


def tag_map(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("TagList", []) or []}


def is_ours(resource: dict[str, Any], source_db_instance_arn: str) -> bool:
    """Whether a cluster (or snapshot) was made by pgferry from this source instance: the one answer
    to "is it ours", for the precheck and the operators alike."""
    return bool(source_db_instance_arn) and same_identifier(tag_map(resource).get(SOURCE_TAG), source_db_instance_arn)


def restored_from(cluster: dict[str, Any]) -> str:
    """The snapshot ARN pgferry recorded on a cluster it restored ('' when there is none)."""
    return tag_map(cluster).get(SNAPSHOT_TAG, "")


def same_snapshot(a: str, b: str) -> bool:
    """Snapshot names or ARNs naming the same snapshot (an ARN's Region counts only when both are ARNs)."""
    if a.startswith("arn:") and b.startswith("arn:"):
        return same_identifier(a, b)
    return same_identifier(snapshot_name_from(a), snapshot_name_from(b))


def copy_source_arn(copy: dict[str, Any]) -> str:
    """What a snapshot copy was copied from, as an ARN when RDS says enough to make one ('' for a snapshot
    that is no copy)."""
    source = copy.get("SourceDBSnapshotIdentifier") or ""
    if source.startswith("arn:") or not source:
        return source
    arn = copy.get("DBSnapshotArn", "")
    parts = arn.split(":")
    region = copy.get("SourceRegion") or (parts[3] if len(parts) > 3 else "")
    return f"arn:{parts[1]}:rds:{region}:{parts[4]}:snapshot:{source}" if len(parts) > 4 else source


def is_copy_of(copy: dict[str, Any], source_snapshot_arn: str) -> bool:
    """A reused copy must be a copy of exactly this source snapshot, never a same-named other one."""
    return bool(source_snapshot_arn) and same_identifier(copy_source_arn(copy), source_snapshot_arn)


def snapshot_arn(of_arn: str, region: str, snapshot_name: str) -> str:
    """The ARN of snapshot `snapshot_name` in `region`, in the partition and account of ARN `of_arn`."""
    parts = of_arn.split(":")
    if snapshot_name.startswith("arn:") or len(parts) < 5:
        return snapshot_name
    return f"arn:{parts[1]}:rds:{region}:{parts[4]}:snapshot:{snapshot_name}"
