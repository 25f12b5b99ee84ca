"""The snapshot path's lookups (aws/hooks.py), sync for the tasks and async for the triggerer, against the
moto server: absent is None in both, and publishing a cluster that is gone names it."""
from __future__ import annotations

import asyncio

import pytest

from include.pgferry.aws.endpoints import cluster_endpoints
from include.pgferry.aws.hooks import (
    cluster_instances,
    cluster_instances_async,
    find_cluster,
    find_cluster_async,
    find_snapshot,
    find_snapshot_async,
    rds_hook,
)
from localstack import airflow_env
from localstack.ports import free_port

pytestmark = [pytest.mark.aws]


def async_lookups(aws, *lookups):
    """Run `lookups` (async functions of an aiobotocore RDS client) through the provider's async hook."""
    async def go():
        async with await rds_hook(aws.conn_id, "us-east-1").get_async_conn() as client:
            return [await lookup(client) for lookup in lookups]
    return asyncio.run(go())


def test_absent_is_none_and_present_is_found_in_both_the_sync_and_the_async_lookups(aws):
    aws.create_source("src", region="us-east-1")
    rds = aws.rds("us-east-1")
    rds.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="snap-1")

    assert find_snapshot(rds, "nope") is None and find_cluster(rds, "nope") is None
    assert cluster_instances(rds, "nope") == []
    assert find_snapshot(rds, "snap-1")["DBSnapshotIdentifier"] == "snap-1"

    missing_snapshot, missing_cluster, no_instances, found = async_lookups(
        aws, lambda c: find_snapshot_async(c, "nope"), lambda c: find_cluster_async(c, "nope"),
        lambda c: cluster_instances_async(c, "nope"), lambda c: find_snapshot_async(c, "snap-1"))
    assert (missing_snapshot, missing_cluster, no_instances) == (None, None, [])
    assert found["DBSnapshotIdentifier"] == "snap-1"


def test_an_error_other_than_not_found_is_raised_not_taken_for_absent(aws):
    """RDS unreachable (nothing listens on the port) is an error in both lookups, never "absent"."""
    from botocore.exceptions import EndpointConnectionError

    dead = f"http://127.0.0.1:{free_port()}"
    botocore_config = {"retries": {"max_attempts": 1}, "connect_timeout": 2}
    airflow_env.set_connection("pgferry_aws_unreachable", conn_type="aws", login="testing", password="testing",
                               extra={"endpoint_url": dead, "region_name": "us-east-1"})
    hook = rds_hook("pgferry_aws_unreachable", "us-east-1", botocore_config=botocore_config)
    with pytest.raises(EndpointConnectionError):
        find_snapshot(hook.conn, "snap-1")

    async def look():
        async with await hook.get_async_conn() as client:
            return await find_cluster_async(client, "aur")
    with pytest.raises(EndpointConnectionError):
        asyncio.run(look())


def test_publishing_a_cluster_that_is_gone_names_it(aws):
    with pytest.raises(LookupError, match="DB cluster 'aur-gone' not found in us-east-1"):
        cluster_endpoints(aws.rds("us-east-1"), "aur-gone", "us-east-1")
