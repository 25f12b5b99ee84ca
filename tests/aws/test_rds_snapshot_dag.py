"""The rds_snapshot_to_aurora DAG run for real with dag.test() against the patched moto server.

dag.test() does not raise when a task fails: each test asserts the run's state, the task states,
what exists in (moto's) AWS afterwards, and the messages a person would read.
"""
from __future__ import annotations

import time

import pytest

from include.pgferry.aws.hooks import SOURCE_TAG
from localstack.moto_rds import COPY_PENDING_TAG, SNAPSHOT_FINAL_TAG, SNAPSHOT_PENDING_TAG

pytestmark = [pytest.mark.aws, pytest.mark.dagrun]

ALL_TASKS = {"precheck", "snapshot_needed", "create_snapshot", "snapshot_available", "copy_needed", "copy_snapshot", "copy_finished",
             "restore_cluster", "create_primary_instance", "create_replicas", "cluster_available",
             "publish_endpoints", "clean_up_snapshots"}


@pytest.fixture(scope="module")
def dag():
    from dags.rds_snapshot_to_aurora import rds_snapshot_to_aurora_dag

    return rds_snapshot_to_aurora_dag


# Every param, every time: under dag.test() all runs of a process share the DAG's Param objects and
# Airflow 3.3 resolves a run's conf into them, so a key left out would take the previous run's value.
# The DAG's own defaults, then the ones these tests use.
def _param_defaults() -> dict:
    from include.pgferry.aws.params import param_defaults

    return param_defaults()


DEFAULTS = {**_param_defaults(), "snapshot_identifier": "", "source_region": "us-east-1", "target_region": "",
            "db_instance_class": "db.r6g.large", "vpc_security_group_ids": [], "db_subnet_group_name": "",
            "publicly_accessible": False, "availability_zone": "", "port": 5432, "kms_key_id": "",
            "auto_minor_version_upgrade": True, "replica_count": 0, "max_wait_hours": 24}


def conf(aws, **overrides):
    return {**DEFAULTS, "aws_conn_id": aws.conn_id, "source_db_instance_identifier": "src",
            "db_cluster_identifier": "aurora-one", "poll_interval_seconds": 1, **overrides}


def states(dr) -> dict[str, str]:
    return {ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state) for ti in dr.get_task_instances()}


def xcom(dr, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dr.dag_id, task_ids=task_id,
                                                 key=key)).first()
        assert row is not None, f"no XCom {key} from {task_id}"
        return XComModel.deserialize_value(row)


@pytest.fixture
def output(capfd, caplog):
    """Everything the run printed or logged (task logs reach stdout or the logging capture)."""
    caplog.set_level("INFO")
    return lambda: capfd.readouterr().out + "\n" + caplog.text


def deferred(out: str, task_id: str) -> bool:
    """Whether the log shows `task_id` handing its wait to a trigger."""
    return any("Pausing task as DEFERRED" in line and f"task_id={task_id}" in line for line in out.splitlines())


def assert_nothing_created(aws, before, dr, output, *messages):
    assert dr.state == "failed"
    assert states(dr)["precheck"] == "failed"
    assert {t: s for t, s in states(dr).items() if t != "precheck"} == {t: "upstream_failed" for t in ALL_TASKS - {"precheck"}}
    assert aws.inventory() == before
    out = output()
    assert "nothing was written to AWS" in out
    for message in messages:
        assert message in out, message


def test_whole_dag_in_one_region(dag, airflow_db, aws, output):
    """Every setting reaches the cluster and its instances; the snapshot sensor defers and resumes."""
    ec2 = aws.client("ec2", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.10.{n}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"]["SubnetId"]
               for n, az in ((1, "a"), (2, "b"))]
    aws.rds().create_db_subnet_group(DBSubnetGroupName="aurora-subnets", DBSubnetGroupDescription="pgferry test",
                                     SubnetIds=subnets)
    sg = ec2.create_security_group(GroupName="aurora", Description="pgferry test", VpcId=vpc)["GroupId"]
    key = aws.client("kms", "us-east-1").create_key()["KeyMetadata"]["Arn"]
    source = aws.create_source("src", version="12.8", tags={SNAPSHOT_PENDING_TAG: "2"})

    dr = dag.test(run_conf=conf(aws, db_instance_class="db.r4.large", vpc_security_group_ids=[sg],
                                db_subnet_group_name="aurora-subnets", availability_zone="us-east-1b", port=6543,
                                kms_key_id=key, auto_minor_version_upgrade=False, replica_count=1))

    assert dr.state == "success", states(dr)
    assert states(dr) == {**{t: "success" for t in ALL_TASKS}, "copy_snapshot": "skipped", "copy_finished": "skipped"}
    rds = aws.rds()
    snapshot_name = xcom(dr, "create_snapshot")["db_snapshot_identifier"]
    snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_name)["DBSnapshots"][0]
    assert snapshot["DBInstanceIdentifier"] == "src" and snapshot["SnapshotType"] == "manual"
    assert {"Key": SOURCE_TAG, "Value": source["DBInstanceArn"]} in snapshot["TagList"]

    cluster = rds.describe_db_clusters(DBClusterIdentifier="aurora-one")["DBClusters"][0]
    assert (cluster["Engine"], cluster["EngineVersion"], cluster["Port"]) == ("aurora-postgresql", "12.8", 6543)
    assert cluster["StorageEncrypted"] is True and cluster["KmsKeyId"] == key
    assert cluster["DBSubnetGroup"] == "aurora-subnets"
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == [sg]
    assert {"Key": SOURCE_TAG, "Value": source["DBInstanceArn"]} in cluster["TagList"]
    members = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]}
    assert members == {"aurora-one-1": True, "aurora-one-2": False}
    instances = {i["DBInstanceIdentifier"]: i for i in rds.describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": ["aurora-one"]}])["DBInstances"]}
    for instance in instances.values():
        assert instance["DBInstanceClass"] == "db.r4.large"
        assert instance["PubliclyAccessible"] is False and instance["AutoMinorVersionUpgrade"] is False
    assert instances["aurora-one-1"]["AvailabilityZone"] == "us-east-1b"

    published = xcom(dr, "publish_endpoints")
    assert published["writer_endpoint"] == cluster["Endpoint"]
    assert published["reader_endpoint"] == cluster["ReaderEndpoint"]
    assert published["port"] == 6543 and published["region"] == "us-east-1"
    assert [(m["db_instance_identifier"], m["role"]) for m in published["instances"]] == [
        ("aurora-one-1", "writer"), ("aurora-one-2", "reader")]
    step = published["next_step"]
    assert step["connection"] == {"conn_type": "postgres", "host": cluster["Endpoint"], "port": 6543,
                                  "login": "app_admin", "schema": "postgres"}
    assert "not-a-real-secret-1" not in str(published)
    out = output()
    assert f"writer endpoint: {cluster['Endpoint']}:6543" in out
    assert f"reader endpoint: {cluster['ReaderEndpoint']}:6543" in out
    assert "airflow connections add pgferry_target" in out
    # the run's report: snapshot ids, endpoints, settings; in the log and in XCom for the UI's tab
    assert "pgferry snapshot migration: cluster available -- src (us-east-1) -> Aurora cluster aurora-one" in out
    assert f"snapshot: {snapshot_name} (taken by this run)" in out
    report = xcom(dr, "publish_endpoints", key="pgferry_report")
    assert report["snapshots"]["source_snapshot"] == snapshot_name
    assert report["writer_endpoint"] == cluster["Endpoint"] and report["settings"]["port"] == 6543
    assert deferred(out, "snapshot_available") and deferred(out, "restore_cluster")
    assert "not-a-real-secret-1" not in out


def test_whole_dag_across_regions_and_again(dag, airflow_db, aws, output):
    """An encrypted snapshot in us-east-1, copied to us-west-2 re-encrypted with a us-west-2 key (the
    copy sensor defers), restored from the copy's ARN; then the same migration run again finds
    everything and creates nothing."""
    east_key = aws.client("kms", "us-east-1").create_key()["KeyMetadata"]["Arn"]
    west_key = aws.client("kms", "us-west-2").create_key()["KeyMetadata"]["Arn"]
    aws.create_source("src", version="13.7", kms_key_id=east_key, tags={COPY_PENDING_TAG: "2"})
    source_snapshot = aws.rds().create_db_snapshot(DBInstanceIdentifier="src",
                                                   DBSnapshotIdentifier="manual-1")["DBSnapshot"]
    assert source_snapshot["Encrypted"] and source_snapshot["KmsKeyId"] == east_key
    run = conf(aws, snapshot_identifier="manual-1", target_region="us-west-2", replica_count=2, kms_key_id=west_key)

    dr = dag.test(run_conf=run)

    assert dr.state == "success", states(dr)
    assert states(dr) == {t: "success" for t in ALL_TASKS}
    assert xcom(dr, "create_snapshot")["created"] is False
    copy = xcom(dr, "copy_snapshot")
    assert copy == {"db_snapshot_identifier": "manual-1", "created": True,
                    "db_snapshot_arn": "arn:aws:rds:us-west-2:123456789012:snapshot:manual-1"}
    west = aws.rds("us-west-2")
    copied = west.describe_db_snapshots(DBSnapshotIdentifier="manual-1")["DBSnapshots"][0]
    assert copied["SourceRegion"] == "us-east-1" and copied["Status"] == "available"
    assert copied["SourceDBSnapshotIdentifier"] == source_snapshot["DBSnapshotArn"]
    assert copied["Encrypted"] and copied["KmsKeyId"] == west_key
    cluster = west.describe_db_clusters(DBClusterIdentifier="aurora-one")["DBClusters"][0]
    assert cluster["EngineVersion"] == "13.7"
    assert cluster["StorageEncrypted"] is True and cluster["KmsKeyId"] == west_key
    assert sorted(m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]) == [
        "aurora-one-1", "aurora-one-2", "aurora-one-3"]
    assert aws.rds("us-east-1").describe_db_clusters()["DBClusters"] == []
    published = xcom(dr, "publish_endpoints")
    assert published["region"] == "us-west-2" and published["writer_endpoint"] == cluster["Endpoint"]
    out = output()
    assert deferred(out, "copy_finished")

    after_first = aws.inventory()
    again = dag.test(run_conf=run)
    assert again.state == "success", states(again)
    assert aws.inventory() == after_first
    # the cluster is there and ours: no new snapshot, no copy (issue 12)
    assert {t: states(again)[t] for t in ("snapshot_needed", "create_snapshot", "copy_snapshot")} == {
        "snapshot_needed": "success", "create_snapshot": "skipped", "copy_snapshot": "skipped"}
    assert xcom(again, "restore_cluster")["created"] is False
    assert [i["created"] for i in xcom(again, "create_primary_instance") + xcom(again, "create_replicas")] == [
        False, False, False]
    assert "continuing with DB cluster aurora-one" in output()


@pytest.mark.parametrize("rule,name", [
    ("must contain from 1 to 63 characters", "a" * 64),
    ("must contain only letters, digits or hyphens", "aurora_one"),
    ("first character must be a letter", "1-aurora"),
    ("cannot end with a hyphen", "aurora-"),
    ("cannot contain two consecutive hyphens", "aurora--one"),
])
def test_each_identifier_rule_refused_before_any_aws_call(dag, airflow_db, aws, rule, name):
    from airflow.sdk.exceptions import ParamValidationError

    aws.create_source("src")
    before = aws.inventory()
    with pytest.raises(ParamValidationError) as refused:
        dag.test(run_conf=conf(aws, db_cluster_identifier=name))
    assert "db_cluster_identifier" in str(refused.value) and rule in str(refused.value)
    assert aws.inventory() == before


def test_derived_instance_name_too_long_fails_precheck(dag, airflow_db, aws, output):
    aws.create_source("src")
    before = aws.inventory()
    dr = dag.test(run_conf=conf(aws, db_cluster_identifier="a" * 62))
    assert_nothing_created(aws, before, dr, output,
                           f"DB instance identifier '{'a' * 62}-1': must contain from 1 to 63 characters")


def test_cluster_name_already_used_in_target_region_fails_precheck(dag, airflow_db, aws, output):
    aws.create_source("src")
    west = aws.rds("us-west-2")
    aws.create_source("someone-else", region="us-west-2")
    west.create_db_snapshot(DBInstanceIdentifier="someone-else", DBSnapshotIdentifier="theirs")
    west.restore_db_cluster_from_snapshot(DBClusterIdentifier="aurora-one", SnapshotIdentifier="theirs",
                                          Engine="aurora-postgresql")
    before = aws.inventory()
    dr = dag.test(run_conf=conf(aws, target_region="us-west-2"))
    assert_nothing_created(aws, before, dr, output,
                           "db_cluster_identifier 'aurora-one': must be unique in the Region, and a DB cluster of "
                           "that name already exists in us-west-2")


def test_postgres_9_5_is_refused(dag, airflow_db, aws, output):
    aws.create_source("src", version="9.5.25")
    before = aws.inventory()
    dr = dag.test(run_conf=conf(aws))
    assert_nothing_created(aws, before, dr, output, "source runs PostgreSQL 9.5.25",
                           "PostgreSQL 9.6.1 or later; upgrade the RDS instance first")


def test_encrypted_snapshot_with_a_different_key_is_refused(dag, airflow_db, aws, output):
    kms = aws.client("kms", "us-east-1")
    own, other = kms.create_key()["KeyMetadata"]["Arn"], kms.create_key()["KeyMetadata"]["Arn"]
    aws.create_source("src", kms_key_id=own)
    rds = aws.rds()
    rds.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="encrypted-1")
    before = aws.inventory()
    dr = dag.test(run_conf=conf(aws, snapshot_identifier="encrypted-1", kms_key_id=other))
    assert_nothing_created(aws, before, dr, output, f"kms_key_id '{other}' differs from the key the snapshot is "
                           f"encrypted with ({own})", "choosing a key is only possible for an unencrypted snapshot")


def test_retried_restore_and_instance_creation_continue(dag, airflow_db, aws, output):
    """A first try restored the cluster and created the primary, then timed out: the next try continues."""
    source = aws.create_source("src", version="13.7")
    rds = aws.rds()
    rds.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="manual-1")
    # Exactly what restore_cluster and create_primary_instance send, as a first try would have.
    aws.restore_as_pgferry("aurora-one", "manual-1", source["DBInstanceArn"], engine_version="13.7", instances=1)
    manual_snapshots = lambda: [s["DBSnapshotIdentifier"]  # noqa: E731
                                for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]]
    assert manual_snapshots() == ["manual-1"]

    dr = dag.test(run_conf=conf(aws, snapshot_identifier="manual-1", replica_count=1))

    assert dr.state == "success", states(dr)
    assert states(dr)["create_snapshot"] == "skipped"  # the cluster exists: no snapshot taken or looked for
    assert xcom(dr, "restore_cluster")["created"] is False
    assert [(i["db_instance_identifier"], i["created"]) for i in xcom(dr, "create_primary_instance")] == [
        ("aurora-one-1", False)]
    assert [(i["db_instance_identifier"], i["created"]) for i in xcom(dr, "create_replicas")] == [
        ("aurora-one-2", True)]
    assert [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]] == ["aurora-one"]
    assert sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": ["aurora-one"]}])["DBInstances"]) == ["aurora-one-1", "aurora-one-2"]
    assert manual_snapshots() == ["manual-1"]  # the given snapshot was used, no new one taken
    out = output()
    assert "continuing with DB cluster aurora-one" in out
    assert "DB cluster aurora-one already exists (available): continuing with it" in out
    assert "DB instance aurora-one-1 already exists in cluster aurora-one (available): continuing with it" in out


def test_failed_snapshot_fails_the_sensor_at_once(dag, airflow_db, aws, output):
    # `creating` for the create call's answer and the sensor's first look, then `failed`.
    aws.create_source("src", tags={SNAPSHOT_PENDING_TAG: "2", SNAPSHOT_FINAL_TAG: "failed"})
    started = time.monotonic()
    # max_wait_hours=1 with 1 s polls: a sensor that waited for its timeout would take an hour.
    dr = dag.test(run_conf=conf(aws, max_wait_hours=1))
    elapsed = time.monotonic() - started

    assert dr.state == "failed"
    got = states(dr)
    assert (got["precheck"], got["create_snapshot"], got["snapshot_available"]) == ("success", "success", "failed")
    assert got["restore_cluster"] == "upstream_failed" and got["publish_endpoints"] == "upstream_failed"
    assert elapsed < 60
    sensor = next(ti for ti in dr.get_task_instances() if ti.task_id == "snapshot_available")
    assert sensor.try_number == 1  # failed for good, not retried
    assert aws.rds().describe_db_clusters()["DBClusters"] == []
    out = output()
    assert deferred(out, "snapshot_available")  # it was `creating` at first: the trigger saw it fail
    assert "is 'failed' and will not become available" in out


def test_copy_waits_for_another_copy_into_the_same_region(dag, airflow_db, aws, output):
    """AWS allows one snapshot copy into a Region at a time: the copy task waits for one in flight."""
    aws.create_source("src", version="13.7")
    aws.create_source("other", version="13.7")
    east, west = aws.rds("us-east-1"), aws.rds("us-west-2")
    other = east.create_db_snapshot(DBInstanceIdentifier="other", DBSnapshotIdentifier="other-1")["DBSnapshot"]
    west.copy_db_snapshot(SourceDBSnapshotIdentifier=other["DBSnapshotArn"], TargetDBSnapshotIdentifier="other-1",
                          SourceRegion="us-east-1", Tags=[{"Key": COPY_PENDING_TAG, "Value": "3"}])

    dr = dag.test(run_conf=conf(aws, target_region="us-west-2"))

    assert dr.state == "success", states(dr)
    out = output()
    assert ("max_copies_in_flight_per_region allows one snapshot copy into us-west-2 at a time; waiting for "
            "other-1 (copying); next try in 1s") in out
    assert deferred(out, "copy_snapshot")
    assert xcom(dr, "copy_snapshot")["created"] is True


def test_copy_task_uses_the_one_slot_pool(dag):
    from pathlib import Path

    import yaml

    assert dag.get_task("copy_snapshot").pool == "rds_snapshot_copy"
    declared = yaml.safe_load((Path(__file__).resolve().parents[2] / "airflow_settings.yaml").read_text())
    [pool] = [p for p in declared["airflow"]["pools"] if p["pool_name"] == "rds_snapshot_copy"]
    assert pool["pool_slot"] == 1


def test_demo_runs_and_prints_the_endpoints(airflow_db, aws, capsys):
    from tools.demo_rds import run_demo

    published = run_demo(aws.endpoint, airflow_ready=True)
    assert published["state"] == "success", published["tasks"]
    cluster = aws.rds("us-west-2").describe_db_clusters(DBClusterIdentifier="demo-aurora")["DBClusters"][0]
    assert (published["writer_endpoint"], published["reader_endpoint"], published["port"]) == (
        cluster["Endpoint"], cluster["ReaderEndpoint"], 5432)
    out = capsys.readouterr().out
    assert f"writer endpoint: {cluster['Endpoint']}" in out and f"reader endpoint: {cluster['ReaderEndpoint']}" in out
