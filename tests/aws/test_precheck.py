"""plan_snapshot_migration (checks/aws.py) against the moto server through boto3: every rule, all problems at once, nothing written."""
from __future__ import annotations

import pytest

from include.pgferry.aws.hooks import SOURCE_TAG
from include.pgferry.checks.aws import plan_snapshot_migration
from include.pgferry.checks.findings import PrecheckFailed

pytestmark = pytest.mark.aws


def params(**overrides):
    base = {"source_db_instance_identifier": "src", "db_cluster_identifier": "aurora-one",
            "source_region": "us-east-1", "target_region": "", "snapshot_identifier": "",
            "db_instance_class": "db.r6g.large", "vpc_security_group_ids": [], "db_subnet_group_name": "",
            "publicly_accessible": False, "availability_zone": "", "port": 5432, "kms_key_id": "",
            "auto_minor_version_upgrade": True, "replica_count": 0}
    return {**base, **overrides}


def plan(aws, **overrides):
    p = params(**overrides)
    target = p["target_region"] or p["source_region"]
    return plan_snapshot_migration(p, run_stamp="20260101000000", run_id="manual__test", source_rds=aws.rds(p["source_region"]),
                      target_rds=aws.rds(target), target_kms=aws.client("kms", target))


def problems_of(aws, **overrides) -> list[str]:
    before = aws.inventory()
    with pytest.raises(PrecheckFailed) as failed:
        plan(aws, **overrides)
    assert aws.inventory() == before, "precheck must not create anything"
    assert "nothing was written to AWS" in str(failed.value)
    # the blocking findings' messages (without their fixes), as the checks word them
    return [f.message for f in failed.value.findings if f.blocking]


def test_a_valid_request_gives_the_plan(aws):
    aws.create_source("src", version="13.7", allocated_gib=200)
    result = plan(aws, target_region="us-west-2", replica_count=2, availability_zone="us-west-2b")
    assert result.copy_needed and result.target_region == "us-west-2"
    assert result.source_snapshot_identifier == "pgferry-src-20260101000000"
    assert result.target_snapshot_identifier == "pgferry-src-20260101000000"
    assert result.instance_identifiers == ["aurora-one-1", "aurora-one-2", "aurora-one-3"]
    assert result.engine_version == "13.7" and result.engine == "aurora-postgresql"
    assert result.allocated_storage_gib == 200 and any("200 GiB" in n for n in result.notes)
    assert {"Key": SOURCE_TAG, "Value": result.source_db_instance_arn} in result.tags
    assert result.resuming == []


def test_every_problem_is_reported_at_once(aws):
    aws.create_source("src", version="9.5.25", allocated_gib=AURORA_TOO_BIG)
    found = problems_of(aws, db_cluster_identifier="9-aurora--", db_subnet_group_name="no-such-group",
                        availability_zone="eu-west-1a", kms_key_id="no-such-key")
    text = "\n".join(found)
    for expected in ["first character must be a letter", "cannot end with a hyphen",
                     "cannot contain two consecutive hyphens", "availability_zone 'eu-west-1a' is not in target_region",
                     "9.6.1 or later", "more than the 65536 GiB", "db_subnet_group_name 'no-such-group' not found",
                     "kms_key_id 'no-such-key' not found in us-east-1"]:
        assert expected in text, expected
    assert len(found) == 8


AURORA_TOO_BIG = 70000


def test_missing_source_instance(aws):
    assert problems_of(aws) == ["source DB instance 'src' not found in us-east-1"]


def test_given_snapshot_must_exist_belong_to_the_source_and_be_available(aws):
    aws.create_source("src")
    aws.create_source("other", tags={"moto-test:snapshot-pending-describes": "5"})
    rds = aws.rds()
    rds.create_db_snapshot(DBInstanceIdentifier="other", DBSnapshotIdentifier="of-other")
    assert problems_of(aws, snapshot_identifier="nope") == ["snapshot_identifier 'nope' not found in us-east-1"]
    found = problems_of(aws, snapshot_identifier="of-other")
    assert "snapshot 'of-other' is a snapshot of DB instance 'other', not of 'src'" in found
    assert "snapshot 'of-other' is 'creating'; it must be 'available'" in found


def test_given_snapshot_is_used_by_name_or_arn_and_its_version_counts(aws):
    aws.create_source("src", version="12.8")
    arn = aws.rds().create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="manual-1")["DBSnapshot"]["DBSnapshotArn"]
    result = plan(aws, snapshot_identifier=arn, target_region="us-west-2")
    assert (result.source_snapshot_identifier, result.snapshot_given, result.engine_version) == ("manual-1", True, "12.8")
    assert result.target_snapshot_identifier == "manual-1"
    elsewhere = arn.replace(":us-east-1:", ":eu-west-1:")
    assert problems_of(aws, snapshot_identifier=elsewhere) == [
        f"snapshot_identifier {elsewhere!r} is in eu-west-1, not in source_region us-east-1"]


def test_no_aurora_version_for_the_source_version(aws):
    # moto's Aurora data (real AWS data) ends 13.x at 13.10: a 13.11 source has nowhere to go.
    aws.create_source("src", version="13.11")
    [problem] = problems_of(aws)
    assert "no Aurora PostgreSQL version in us-east-1 takes a PostgreSQL 13.11 snapshot" in problem


def test_seed_instance_class_accepted_where_aurora_still_offers_it(aws):
    aws.create_source("src", version="12.8")
    assert plan(aws, db_instance_class="db.r4.large").db_instance_class == "db.r4.large"
    aws.create_source("newer", version="14.3")
    [problem] = problems_of(aws, source_db_instance_identifier="newer", db_instance_class="db.r4.large")
    assert "db_instance_class 'db.r4.large' is not offered for Aurora PostgreSQL 14.3" in problem


def test_cluster_name_used_by_someone_else_is_refused_ours_is_continued(aws):
    source = aws.create_source("src", version="12.8")
    rds = aws.rds()
    rds.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="manual-1")
    rds.restore_db_cluster_from_snapshot(DBClusterIdentifier="taken", SnapshotIdentifier="manual-1",
                                         Engine="aurora-postgresql")
    [problem] = problems_of(aws, db_cluster_identifier="taken")
    assert "must be unique in the Region, and a DB cluster of that name already exists in us-east-1" in problem

    aws.restore_as_pgferry("ours", "manual-1", source["DBInstanceArn"], instances=1)
    resumed = plan(aws, db_cluster_identifier="ours", replica_count=1)
    assert [r.split(" (")[0] for r in resumed.resuming] == ["DB cluster ours", "DB instance ours-1"]


def test_instance_name_used_elsewhere_is_refused(aws):
    aws.create_source("src")
    aws.create_source("aurora-one-2")  # a standalone instance already has the first replica's name
    [problem] = problems_of(aws, replica_count=1)
    assert "DB instance identifier 'aurora-one-2' (derived from db_cluster_identifier): must be unique" in problem


def test_encrypted_snapshot_with_another_key_is_refused(aws):
    kms = aws.client("kms", "us-east-1")
    own = kms.create_key()["KeyMetadata"]["Arn"]
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    aws.create_source("src", kms_key_id=own)
    [problem] = problems_of(aws, kms_key_id=other)
    assert f"kms_key_id {other!r} differs from the key the snapshot is encrypted with ({own})" in problem
    assert plan(aws, kms_key_id=own).restore_kms_key_id == ""  # its own key: fine, nothing to pass


def test_encrypted_snapshot_across_regions_needs_a_key_there(aws):
    own = aws.client("kms", "us-east-1").create_key()["KeyMetadata"]["Arn"]
    west = aws.client("kms", "us-west-2").create_key()["KeyMetadata"]["Arn"]
    aws.create_source("src", kms_key_id=own)
    [problem] = problems_of(aws, target_region="us-west-2")
    assert "needs kms_key_id set to a KMS key in us-west-2" in problem
    [problem] = problems_of(aws, target_region="us-west-2", kms_key_id=own)
    assert "not found in us-west-2: KMS keys are regional" in problem
    result = plan(aws, target_region="us-west-2", kms_key_id=west)
    assert (result.copy_kms_key_id, result.restore_kms_key_id) == (west, "")
