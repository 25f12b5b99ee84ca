"""Issue 12: rds_snapshot_to_aurora for production, each finding run for real (dag.test() against the
patched moto server). Each of these failed before the change; the comment on each says how."""
from __future__ import annotations

import time

import pytest

from include.pgferry.aws.hooks import MADE_TAG, SNAPSHOT_TAG, SOURCE_TAG
from localstack.moto_rds import (
    CLUSTER_FINAL_TAG,
    CLUSTER_PENDING_TAG,
    COPY_FINAL_TAG,
    COPY_PENDING_TAG,
    COPY_QUOTA_TAG,
    INSTANCE_FINAL_TAG,
    SNAPSHOT_PENDING_TAG,
)
from tests.aws.test_rds_snapshot_dag import conf, deferred, states, xcom

pytestmark = [pytest.mark.aws, pytest.mark.dagrun]


@pytest.fixture(scope="module")
def dag():
    from dags.rds_snapshot_to_aurora import rds_snapshot_to_aurora_dag

    return rds_snapshot_to_aurora_dag


@pytest.fixture
def output(capfd, caplog):
    caplog.set_level("INFO")
    return lambda: capfd.readouterr().out + "\n" + caplog.text


def try_number(dr, task_id: str) -> int:
    return next(ti.try_number for ti in dr.get_task_instances() if ti.task_id == task_id)


def manual_snapshots(rds) -> list[str]:
    return sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"])


# -- reuse by content ------------------------------------------------------------------------------------------

def test_same_named_snapshot_of_another_database_is_not_reused_as_the_copy(dag, airflow_db, aws, output):
    """Before: precheck compared only the instance *name*, the copy task only the snapshot name; the run
    logged "continuing with snapshot copy nightly" and restored the other database."""
    aws.create_source("src", region="us-east-1")
    aws.create_source("src", region="us-west-2")  # another database, same name, in the target Region
    east, west = aws.rds("us-east-1"), aws.rds("us-west-2")
    ours = east.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="nightly")["DBSnapshot"]
    west.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="nightly")

    dr = dag.test(run_conf=conf(aws, snapshot_identifier="nightly", target_region="us-west-2"))

    assert dr.state == "failed" and states(dr)["precheck"] == "failed"
    assert west.describe_db_clusters()["DBClusters"] == []
    out = output()
    assert "a snapshot named 'nightly' (the copy's name) already exists in us-west-2 and is not a copy of " \
           f"{ours['DBSnapshotArn']}" in out
    assert "source not a copy" in out and "delete or rename snapshot nightly in us-west-2" in out


def test_existing_cluster_with_other_settings_is_refused_with_every_difference(dag, airflow_db, aws, output):
    """Before: a rerun asking for another port, a KMS key, another class and public access succeeded and
    reported the requested settings while the cluster kept the old ones."""
    aws.create_source("src", version="13.7")
    first = dag.test(run_conf=conf(aws, deletion_protection=False))
    assert first.state == "success", states(first)
    key = aws.client("kms", "us-east-1").create_key()["KeyMetadata"]["Arn"]
    before = aws.inventory()

    dr = dag.test(run_conf=conf(aws, deletion_protection=False, port=6543, kms_key_id=key,
                                db_instance_class="db.r5.large", publicly_accessible=True))

    assert dr.state == "failed" and states(dr)["precheck"] == "failed"
    assert aws.inventory() == before
    out = output()
    for difference in ["port is 5432, this run asks for 6543", f"KMS key is '', this run asks for '{key}'",
                       "encryption at rest is False, this run asks for True",
                       "instance class is 'db.r6g.large', this run asks for 'db.r5.large'",
                       "public access is False, this run asks for True"]:
        assert difference in out, difference
    assert "pgferry does not modify an existing cluster" in out


def test_cluster_restored_from_another_snapshot_of_the_same_source_is_refused(dag, airflow_db, aws, output):
    """Before: only the source tag was compared, so a cluster from manual-1 was "continued" for manual-2."""
    aws.create_source("src")
    rds = aws.rds()
    rds.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="manual-1")
    rds.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="manual-2")
    first = dag.test(run_conf=conf(aws, snapshot_identifier="manual-1", deletion_protection=False))
    assert first.state == "success", states(first)
    cluster = rds.describe_db_clusters(DBClusterIdentifier="aurora-one")["DBClusters"][0]
    assert {"Key": SNAPSHOT_TAG, "Value": "arn:aws:rds:us-east-1:123456789012:snapshot:manual-1"} in cluster["TagList"]

    dr = dag.test(run_conf=conf(aws, snapshot_identifier="manual-2", deletion_protection=False))

    assert dr.state == "failed" and states(dr)["precheck"] == "failed"
    assert "DB cluster aurora-one was restored from snapshot arn:aws:rds:us-east-1:123456789012:snapshot:manual-1, " \
           "this run asks for manual-2" in output()


def test_rerun_of_a_finished_migration_takes_no_snapshot_and_copies_nothing(dag, airflow_db, aws, output):
    """Before: every run took a new production snapshot (named after the run) and copied it across Regions."""
    aws.create_source("src")
    east, west = aws.rds("us-east-1"), aws.rds("us-west-2")
    first = dag.test(run_conf=conf(aws, target_region="us-west-2", deletion_protection=False))
    assert first.state == "success", states(first)
    snapshots = (manual_snapshots(east), manual_snapshots(west))
    assert len(snapshots[0]) == 1 and len(snapshots[1]) == 1
    time.sleep(1.1)  # the next run's snapshot name (its timestamp) would differ

    again = dag.test(run_conf=conf(aws, target_region="us-west-2", deletion_protection=False))

    assert again.state == "success", states(again)
    assert (manual_snapshots(east), manual_snapshots(west)) == snapshots
    got = states(again)
    assert (got["create_snapshot"], got["snapshot_available"], got["copy_snapshot"], got["copy_finished"]) == (
        "skipped", "skipped", "skipped", "skipped")
    assert got["restore_cluster"] == "success" and xcom(again, "restore_cluster")["created"] is False
    assert f"no new snapshot and no copy: DB cluster aurora-one exists and was restored from {snapshots[1][0]}" \
        in output()


def test_mixed_case_identifiers_are_lower_cased_in_precheck_and_the_report_reads_rds(dag, airflow_db, aws, output):
    """Before: `Aurora-Shop` created the cluster and its instance, then failed on its own exact-case
    comparison; and the report printed the requested (empty) AZ instead of the one RDS chose."""
    aws.create_source("shop-db")
    dr = dag.test(run_conf=conf(aws, source_db_instance_identifier="Shop-DB", db_cluster_identifier="Aurora-Shop",
                                replica_count=1, deletion_protection=False))

    assert dr.state == "success", states(dr)
    rds = aws.rds()
    cluster = rds.describe_db_clusters(DBClusterIdentifier="aurora-shop")["DBClusters"][0]
    assert sorted(m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]) == ["aurora-shop-1", "aurora-shop-2"]
    out = output()
    assert "db_cluster_identifier 'Aurora-Shop' is used as 'aurora-shop': RDS stores identifiers in lower case" in out
    assert "source_db_instance_identifier 'Shop-DB' is used as 'shop-db'" in out
    primary = rds.describe_db_instances(DBInstanceIdentifier="aurora-shop-1")["DBInstances"][0]
    report = xcom(dr, "publish_endpoints", key="pgferry_report")
    assert primary["AvailabilityZone"] and report["settings"]["availability_zone"] == primary["AvailabilityZone"]
    assert xcom(dr, "publish_endpoints")["settings"]["deletion_protection"] is False


# -- failure states and timeouts --------------------------------------------------------------------------------

@pytest.mark.parametrize("where,state,task_id,advice", [
    ("cluster", "migration-failed", "restore_cluster", "RDS could not migrate the snapshot into Aurora"),
    ("cluster", "inaccessible-encryption-credentials", "restore_cluster", "RDS cannot use the cluster's KMS key"),
    ("instance", "storage-full", "cluster_available", "the instance ran out of storage"),
    ("instance", "incompatible-network", "cluster_available", "the subnet group has no room for the instance"),
    ("instance", "insufficient-capacity", "cluster_available", "AWS has no capacity for this instance class"),
])
def test_terminal_state_fails_the_task_at_once_naming_it(dag, airflow_db, aws, output, where, state, task_id, advice):
    """Before: botocore's waiters behind the provider's trigger lacked these states and polled until the timeout
    (24 h x 3 tries)."""
    aws.create_source("src")
    script = ({CLUSTER_PENDING_TAG: "1", CLUSTER_FINAL_TAG: state} if where == "cluster"
              else {INSTANCE_FINAL_TAG: state})
    started = time.monotonic()
    dr = dag.test(run_conf=conf(aws, tags=script, deletion_protection=False, max_wait_hours=1))

    assert dr.state == "failed"
    assert states(dr)[task_id] == "failed" and try_number(dr, task_id) == 1  # no retry that cannot help
    assert time.monotonic() - started < 90
    out = output()
    assert f"is '{state}' and will not become available" in out and advice in out


def test_failed_copy_fails_copy_finished_at_once(dag, airflow_db, aws, output):
    aws.create_source("src", tags={COPY_PENDING_TAG: "1", COPY_FINAL_TAG: "failed"})
    dr = dag.test(run_conf=conf(aws, target_region="us-west-2", max_wait_hours=1))
    assert dr.state == "failed"
    assert states(dr)["copy_finished"] == "failed" and try_number(dr, "copy_finished") == 1
    out = output()
    assert "snapshot copy pgferry-src-" in out and "is 'failed' and will not become available" in out


def test_a_wait_that_runs_out_is_a_timeout_and_the_retry_continues_it(airflow_db, aws):
    """Before: running out of attempts was reported as a broken snapshot ("Delete it") with
    AirflowFailException, so no retry. Now the trigger (run here against moto) says "timeout", the task
    raises a retryable AirflowException saying so, and the retry's execute defers the same wait again."""
    import asyncio

    from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

    from include.pgferry.aws.sensors import RdsSnapshotAvailableSensor

    aws.create_source("src", tags={SNAPSHOT_PENDING_TAG: "10"})
    aws.rds().create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="slow-1")
    sensor = RdsSnapshotAvailableSensor(task_id="wait", db_snapshot_identifier="slow-1", waiter_delay=1,
                                        waiter_max_attempts=2, aws_conn_id=aws.conn_id, region_name="us-east-1")
    with pytest.raises(TaskDeferred) as deferral:
        sensor.execute({})
    trigger = deferral.value.trigger

    async def first_event():
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    assert event["status"] == "timeout" and "slow-1: creating" in event["message"]
    with pytest.raises(AirflowException) as timed_out:
        sensor.execute_complete({}, event)
    assert not isinstance(timed_out.value, AirflowFailException)  # retryable
    assert "timed out after" in str(timed_out.value)
    assert "This is a timeout, not a failure: the retry continues the same wait" in str(timed_out.value)
    with pytest.raises(TaskDeferred):  # the retry: the same wait again
        sensor.execute({})


def test_automated_snapshot_is_waited_for_with_its_snapshot_type(dag, airflow_db, aws, output):
    """Before: the sensor described `rds:` snapshots without SnapshotType="automated", which RDS requires
    (moto patched to answer as RDS does), and failed with "does not exist"."""
    aws.create_source("src")
    [automated] = aws.rds().describe_db_snapshots(DBInstanceIdentifier="src", SnapshotType="automated")["DBSnapshots"]
    name = automated["DBSnapshotIdentifier"]
    assert name.startswith("rds:")

    dr = dag.test(run_conf=conf(aws, snapshot_identifier=name, target_region="us-west-2", deletion_protection=False))

    assert dr.state == "success", states(dr)
    copy = aws.rds("us-west-2").describe_db_snapshots(DBSnapshotIdentifier=xcom(dr, "copy_snapshot")[
        "db_snapshot_identifier"])["DBSnapshots"][0]
    assert copy["SourceDBSnapshotIdentifier"] == automated["DBSnapshotArn"]


# -- the copy limit -----------------------------------------------------------------------------------------------

def test_copy_limit_is_configurable(dag, airflow_db, aws, output):
    """Before: any copy in flight into the Region made the copy wait (one, fixed)."""
    aws.create_source("src")
    aws.create_source("other")
    east, west = aws.rds("us-east-1"), aws.rds("us-west-2")
    other = east.create_db_snapshot(DBInstanceIdentifier="other", DBSnapshotIdentifier="other-1")["DBSnapshot"]
    west.copy_db_snapshot(SourceDBSnapshotIdentifier=other["DBSnapshotArn"], TargetDBSnapshotIdentifier="other-1",
                          SourceRegion="us-east-1", Tags=[{"Key": COPY_PENDING_TAG, "Value": "50"}])

    dr = dag.test(run_conf=conf(aws, target_region="us-west-2", max_copies_in_flight_per_region=2,
                                deletion_protection=False))

    assert dr.state == "success", states(dr)
    assert "at a time; waiting for" not in output() and xcom(dr, "copy_snapshot")["created"] is True


def test_copy_backs_off_on_the_quota_error(dag, airflow_db, aws, output):
    """Before: SnapshotQuotaExceeded failed the copy task (and its retries met it again)."""
    aws.create_source("src", tags={COPY_QUOTA_TAG: "2"})
    dr = dag.test(run_conf=conf(aws, target_region="us-west-2", deletion_protection=False))

    assert dr.state == "success", states(dr)
    assert try_number(dr, "copy_snapshot") == 1
    out = output()
    assert out.count("RDS refused the copy for a quota (SnapshotQuotaExceeded") == 2
    assert deferred(out, "copy_snapshot") and xcom(dr, "copy_snapshot")["created"] is True


# -- production settings ----------------------------------------------------------------------------------------

def _subnet_group(aws, region: str = "us-east-1") -> str:
    ec2 = aws.client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{n}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"][
        "SubnetId"] for n, az in ((1, "a"), (2, "b"), (3, "c"))]
    aws.rds(region).create_db_subnet_group(DBSubnetGroupName="three-zones", DBSubnetGroupDescription="pgferry test",
                                           SubnetIds=subnets)
    return "three-zones"


def test_production_settings_reach_the_cluster_and_the_asset_is_published(dag, airflow_db, aws, output):
    """Before: none of these Params existed, replicas went wherever RDS put them, and no Asset was published."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    aws.create_source("src", version="13.7")
    rds = aws.rds()
    rds.create_db_cluster_parameter_group(DBClusterParameterGroupName="shop-cluster-params",
                                          DBParameterGroupFamily="aurora-postgresql13", Description="pgferry test")
    rds.create_db_parameter_group(DBParameterGroupName="shop-instance-params",
                                  DBParameterGroupFamily="aurora-postgresql13", Description="pgferry test")
    group = _subnet_group(aws)

    dr = dag.test(run_conf=conf(
        aws, db_instance_class="db.serverless", serverless_v2_scaling={"min_capacity": 0.5, "max_capacity": 8},
        db_cluster_parameter_group_name="shop-cluster-params", db_parameter_group_name="shop-instance-params",
        tags={"team": "shop", "cost-centre": "42"}, copy_tags_to_snapshot=True,
        enable_iam_database_authentication=True, enable_cloudwatch_logs_exports=["postgresql"],
        storage_type="aurora-iopt1", backup_retention_period=14, db_subnet_group_name=group, replica_count=3))

    assert dr.state == "success", states(dr)
    cluster = rds.describe_db_clusters(DBClusterIdentifier="aurora-one")["DBClusters"][0]
    assert cluster["DeletionProtection"] is True  # the default for a new cluster
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 8.0}
    assert cluster["DBClusterParameterGroup"] == "shop-cluster-params"
    assert (cluster["IAMDatabaseAuthenticationEnabled"], cluster["EnabledCloudwatchLogsExports"]) == (True, ["postgresql"])
    assert (cluster["StorageType"], cluster["BackupRetentionPeriod"], cluster["CopyTagsToSnapshot"]) == (
        "aurora-iopt1", 14, True)
    assert {"Key": "team", "Value": "shop"} in cluster["TagList"]
    instances = {i["DBInstanceIdentifier"]: i for i in rds.describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": ["aurora-one"]}])["DBInstances"]}
    placed = {i: (v["AvailabilityZone"], v["PromotionTier"], v["DBInstanceClass"]) for i, v in instances.items()}
    assert placed == {"aurora-one-1": ("us-east-1a", 0, "db.serverless"), "aurora-one-2": ("us-east-1b", 1, "db.serverless"),
                      "aurora-one-3": ("us-east-1c", 2, "db.serverless"), "aurora-one-4": ("us-east-1a", 3, "db.serverless")}
    assert all(v["DBParameterGroups"][0]["DBParameterGroupName"] == "shop-instance-params" for v in instances.values())
    assert {"Key": "team", "Value": "shop"} in instances["aurora-one-2"]["TagList"]

    with create_session() as session:
        asset = session.scalars(select(AssetModel).where(AssetModel.name == "pgferry_aurora_cluster")).one()
        [event] = session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset.id,
                                                           AssetEvent.source_run_id == dr.run_id)).all()
    assert event.extra["writer_endpoint"] == cluster["Endpoint"]
    assert event.extra["reader_endpoint"] == cluster["ReaderEndpoint"]
    assert event.extra["db_cluster_identifier"] == "aurora-one" and event.extra["port"] == 5432


def test_missing_parameter_group_and_reserved_tags_are_refused_in_precheck(dag, airflow_db, aws, output):
    aws.create_source("src")
    before = aws.inventory()
    dr = dag.test(run_conf=conf(aws, db_cluster_parameter_group_name="no-such-params", tags={"pgferry:x": "1"}))
    assert dr.state == "failed" and states(dr)["precheck"] == "failed"
    assert aws.inventory() == before
    out = output()
    assert "db_cluster_parameter_group_name 'no-such-params' not found in us-east-1" in out
    assert "aws rds create-db-cluster-parameter-group --region us-east-1" in out
    assert "tags ['pgferry:x']: the prefixes pgferry: and aws: are reserved" in out


# -- clean-up ---------------------------------------------------------------------------------------------------

def test_clean_up_deletes_what_pgferry_made_and_never_a_given_snapshot(dag, airflow_db, aws, output):
    """Before: there was no clean-up; the snapshot and the copy stayed."""
    source = aws.create_source("src")
    east, west = aws.rds("us-east-1"), aws.rds("us-west-2")
    dr = dag.test(run_conf=conf(aws, target_region="us-west-2", delete_snapshots_when_done=True,
                                deletion_protection=False))
    assert dr.state == "success", states(dr)
    assert (manual_snapshots(east), manual_snapshots(west)) == ([], [])
    assert len(xcom(dr, "clean_up_snapshots")["deleted"]) == 2

    east.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="keep-me")
    given = dag.test(run_conf=conf(aws, snapshot_identifier="keep-me", target_region="us-west-2",
                                   db_cluster_identifier="aurora-two", delete_snapshots_when_done=True,
                                   deletion_protection=False))
    assert given.state == "success", states(given)
    assert manual_snapshots(east) == ["keep-me"] and manual_snapshots(west) == []
    cleaned = xcom(given, "clean_up_snapshots")
    assert cleaned["deleted"] == ["keep-me in us-west-2 (the copy pgferry made)"]
    assert cleaned["kept"] == ["keep-me in us-east-1 (given)"]
    made = [t for t in west.describe_db_clusters(DBClusterIdentifier="aurora-two")["DBClusters"][0]["TagList"]
            if t["Key"] in (SOURCE_TAG, MADE_TAG)]
    assert made == [{"Key": SOURCE_TAG, "Value": source["DBInstanceArn"]}]  # the cluster is not "made" to delete
