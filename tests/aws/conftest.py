"""A patched moto server (localstack/moto_rds.py) on a free loopback port, and helpers to drive it.

The DAG runs reach it through the real amazon provider and boto3/aiobotocore: only the AWS
connection's `endpoint_url` points at it.
"""
from __future__ import annotations

import urllib.request
from dataclasses import dataclass

import boto3
import pytest

from localstack import airflow_env
from localstack import moto_server as moto_server_process
from localstack.processes import stop_group

AWS_CONN_ID = "pgferry_aws_test"
REGIONS = ("us-east-1", "us-west-2")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """The patched moto server (localstack.moto_server) on a free port, in its own process group; yields its
    endpoint and stops the group afterwards."""
    server = moto_server_process.start(0, log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server.endpoint
    finally:
        stop_group(server.pid, grace=10)


@dataclass
class MotoAws:
    endpoint: str
    conn_id: str = AWS_CONN_ID

    def client(self, service: str, region: str):
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def rds(self, region: str = "us-east-1"):
        return self.client("rds", region)

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()

    def inventory(self) -> dict[str, list[str]]:
        """Every RDS resource in the test Regions, by kind, to prove a failed precheck created nothing."""
        found: dict[str, list[str]] = {}
        for region in REGIONS:
            rds = self.rds(region)
            found[f"{region} snapshots"] = sorted(s["DBSnapshotIdentifier"]
                                                  for s in rds.describe_db_snapshots()["DBSnapshots"])
            found[f"{region} clusters"] = sorted(c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"])
            found[f"{region} instances"] = sorted(i["DBInstanceIdentifier"]
                                                  for i in rds.describe_db_instances()["DBInstances"])
        return found

    def create_source(self, identifier: str, *, version: str = "13.7", region: str = "us-east-1",
                      allocated_gib: int = 100, kms_key_id: str = "", tags: dict[str, str] | None = None) -> dict:
        """An RDS PostgreSQL instance as the migration's source."""
        kwargs = {}
        if kms_key_id:
            kwargs = {"StorageEncrypted": True, "KmsKeyId": kms_key_id}
        return self.rds(region).create_db_instance(
            DBInstanceIdentifier=identifier, Engine="postgres", EngineVersion=version, DBInstanceClass="db.m5.large",
            AllocatedStorage=allocated_gib, MasterUsername="app_admin", MasterUserPassword="not-a-real-secret-1",
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()], **kwargs)["DBInstance"]


    def restore_as_pgferry(self, cluster_id: str, snapshot: str, source_arn: str, *, region: str = "us-east-1",
                           instances: int = 1, engine_version: str = "", **params) -> dict:
        """A cluster and instances exactly as restore_cluster and create_*_instance(s) send them for a
        run with the default params (plus `params`): what a first try leaves behind."""
        from include.pgferry.aws.hooks import RUN_TAG, SNAPSHOT_TAG, SOURCE_TAG
        from include.pgferry.aws.plan import MigrationRequest
        from include.pgferry.aws.settings import instance_request, restore_request

        rds = self.rds(region)
        req = MigrationRequest.from_params({"source_db_instance_identifier": "src", "db_cluster_identifier": cluster_id,
                                            "source_region": region, **params})
        arn = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"][0]["DBSnapshotArn"]
        tags = [{"Key": SOURCE_TAG, "Value": source_arn}, {"Key": RUN_TAG, "Value": "manual__earlier"}]
        cluster = rds.restore_db_cluster_from_snapshot(**restore_request(
            db_cluster_identifier=cluster_id, snapshot_arn=arn, engine="aurora-postgresql",
            engine_version=engine_version, port=req.port, tags=[*tags, {"Key": SNAPSHOT_TAG, "Value": arn}],
            settings=req.cluster_settings()))["DBCluster"]
        for n in range(1, instances + 1):
            rds.create_db_instance(**instance_request(
                db_instance_identifier=f"{cluster_id}-{n}", db_cluster_identifier=cluster_id,
                engine="aurora-postgresql", db_instance_class=req.db_instance_class,
                publicly_accessible=req.publicly_accessible, auto_minor_version_upgrade=req.auto_minor_version_upgrade,
                promotion_tier=n - 1, tags=tags, settings=req.instance_settings()))
        return cluster


@pytest.fixture(scope="session")
def moto_aws(moto_server):
    """The AWS connection the DAG uses (conn_type aws, extra endpoint_url), exposed to tasks by env var."""
    airflow_env.set_connection(AWS_CONN_ID, conn_type="aws", login="testing", password="testing",
                               extra={"endpoint_url": moto_server, "region_name": "us-east-1"})
    return MotoAws(moto_server)


@pytest.fixture
def aws(moto_aws):
    """A clean moto for each test."""
    moto_aws.reset()
    return moto_aws
