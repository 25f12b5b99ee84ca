"""The snapshot path's rules as pure functions: identifiers, versions, encryption, space. No server."""
from __future__ import annotations

import pytest

from include.pgferry.aws.encryption import plan_encryption, same_kms_key
from include.pgferry.aws.identifiers import (
    SNAPSHOT_IDENTIFIER_RULES,
    copy_snapshot_identifier,
    identifier_param_schema,
    identifier_problems,
    manual_snapshot_identifier,
    primary_instance_identifier,
    replica_instance_identifiers,
)
from include.pgferry.aws.storage import AURORA_MAX_VOLUME_GIB, storage_findings
from include.pgferry.aws.versions import choose_aurora_version, parse_version, source_engine_problems

# One name per seed rule, breaking that rule only.
BROKEN_NAMES = {
    "must contain from 1 to 63 characters": "a" * 64,
    "must contain only letters, digits or hyphens": "aurora_cluster",
    "first character must be a letter": "1aurora",
    "cannot end with a hyphen": "aurora-",
    "cannot contain two consecutive hyphens": "aurora--one",
}


@pytest.mark.parametrize("rule,name", BROKEN_NAMES.items())
def test_each_identifier_rule_is_named_when_broken(rule, name):
    assert identifier_problems(name, "db_cluster_identifier") == [f"db_cluster_identifier {name!r}: {rule}"]


def test_empty_identifier_breaks_the_length_rule():
    assert identifier_problems("", "x") == ["x '': must contain from 1 to 63 characters"]


def test_every_broken_rule_is_reported_at_once():
    problems = identifier_problems("9bad__name--", "db_cluster_identifier")
    assert [p.split(": ", 1)[1] for p in problems] == [
        "must contain only letters, digits or hyphens", "first character must be a letter",
        "cannot end with a hyphen", "cannot contain two consecutive hyphens"]


@pytest.mark.parametrize("name", ["a", "aurora-cluster1", "A" + "b" * 62, "Aurora-Postgres-1"])
def test_valid_identifiers_pass(name):
    assert identifier_problems(name, "x") == []


@pytest.mark.parametrize("rule,name", BROKEN_NAMES.items())
def test_param_schema_rejects_each_rule_and_names_it(rule, name):
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError) as raised:
        Param(type="string", **identifier_param_schema()).resolve(name)
    assert rule in str(raised.value)
    assert Param(type="string", **identifier_param_schema()).resolve("aurora-one") == "aurora-one"


def test_derived_instance_names():
    assert primary_instance_identifier("aur") == "aur-1"
    assert replica_instance_identifiers("aur", 3) == ["aur-2", "aur-3", "aur-4"]
    assert replica_instance_identifiers("aur", 0) == []
    # A 62-character cluster name is valid; its instances' names are not.
    cluster = "a" * 62
    assert identifier_problems(cluster, "c") == []
    assert "from 1 to 63 characters" in identifier_problems(primary_instance_identifier(cluster), "i")[0]


def test_snapshot_names_derived_are_valid():
    for name in [manual_snapshot_identifier("src-db", "20260101120000"),
                 copy_snapshot_identifier("rds:src-db-2026-01-01-00-05"),
                 copy_snapshot_identifier("arn:aws:rds:us-east-1:123456789012:snapshot:rds:src-2026-01-01-00-05")]:
        assert identifier_problems(name, "snapshot", SNAPSHOT_IDENTIFIER_RULES) == [], name
    assert manual_snapshot_identifier("src-db", "20260101120000") == "pgferry-src-db-20260101120000"
    assert copy_snapshot_identifier("arn:aws:rds:us-east-1:123456789012:snapshot:manual-1") == "manual-1"
    assert copy_snapshot_identifier("rds:src-2026-01-01-00-05") == "pgferry-copy-rds-src-2026-01-01-00-05"


def test_versions_compare_numerically():
    assert parse_version("9.6.12") > parse_version("9.6.1")
    assert parse_version("10.1") > parse_version("9.6.24")
    assert parse_version("16.1-R2") == (16, 1)
    assert parse_version("11.22-rds.20240418") == (11, 22)
    with pytest.raises(ValueError):
        parse_version("latest")


@pytest.mark.parametrize("version", ["9.6.1", "9.6.12", "10.21", "13.7", "16.4"])
def test_source_versions_from_9_6_1_are_accepted(version):
    assert source_engine_problems("postgres", version) == []


@pytest.mark.parametrize("version", ["9.5.25", "9.6.0", "9.4.26"])
def test_source_versions_before_9_6_1_are_refused(version):
    [problem] = source_engine_problems("postgres", version)
    assert f"PostgreSQL {version}" in problem and "9.6.1 or later" in problem


def test_only_rds_postgresql_sources():
    [problem] = source_engine_problems("mysql", "8.0.35")
    assert "'mysql'" in problem and "RDS PostgreSQL" in problem


def test_aurora_version_is_same_major_same_or_later_minor_closest():
    offered = ["11.9", "12.8", "12.14", "13.4", "13.7", "13.10", "14.3"]
    assert choose_aurora_version("13.7", offered) == "13.7"
    assert choose_aurora_version("13.5", offered) == "13.7"
    assert choose_aurora_version("12.9", offered) == "12.14"
    assert choose_aurora_version("13.11", offered) is None   # no later minor: upgrade the source first
    assert choose_aurora_version("9.6.22", offered) is None  # major 9.6 is not 9
    assert choose_aurora_version("9.6.12", ["9.6.22", "10.14"]) == "9.6.22"


def test_kms_keys_compare_by_id_or_arn():
    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert same_kms_key(arn, "1234abcd-12ab-34cd-56ef-1234567890ab")
    assert not same_kms_key(arn, "arn:aws:kms:us-east-1:123456789012:key/ffff")


def test_encryption_unencrypted_snapshot_takes_the_chosen_key():
    plan = plan_encryption(snapshot_encrypted=False, snapshot_kms_key_id="", kms_key_id="key-1",
                           cross_region=True, target_region="us-west-2")
    assert (plan.copy_kms_key_id, plan.restore_kms_key_id, plan.encrypted_at_rest, plan.problems) == \
        ("", "key-1", True, ())
    plain = plan_encryption(snapshot_encrypted=False, snapshot_kms_key_id="", kms_key_id="", cross_region=False,
                            target_region="us-east-1")
    assert (plain.restore_kms_key_id, plain.encrypted_at_rest, plain.problems) == ("", False, ())


def test_encryption_encrypted_snapshot_refuses_another_key():
    plan = plan_encryption(snapshot_encrypted=True, snapshot_kms_key_id="arn:aws:kms:us-east-1:1:key/aaa",
                           kms_key_id="bbb", cross_region=False, target_region="us-east-1")
    [problem] = plan.problems
    assert "differs from the key the snapshot is encrypted with" in problem and "only possible for an unencrypted" in problem
    same = plan_encryption(snapshot_encrypted=True, snapshot_kms_key_id="arn:aws:kms:us-east-1:1:key/aaa",
                           kms_key_id="aaa", cross_region=False, target_region="us-east-1")
    assert (same.problems, same.restore_kms_key_id, same.encrypted_at_rest) == ((), "", True)


def test_encryption_encrypted_snapshot_across_regions_needs_a_target_region_key():
    [problem] = plan_encryption(snapshot_encrypted=True, snapshot_kms_key_id="k", kms_key_id="",
                                cross_region=True, target_region="eu-west-1").problems
    assert "KMS key in eu-west-1" in problem
    plan = plan_encryption(snapshot_encrypted=True, snapshot_kms_key_id="k", kms_key_id="west-key",
                           cross_region=True, target_region="eu-west-1")
    assert (plan.copy_kms_key_id, plan.restore_kms_key_id, plan.problems) == ("west-key", "", ())


def test_space_against_the_aurora_volume_limit():
    problems, notes = storage_findings(500, "source db")
    assert problems == [] and "500 GiB" in notes[0]
    [problem], _ = storage_findings(AURORA_MAX_VOLUME_GIB + 1, "source db")
    assert f"more than the {AURORA_MAX_VOLUME_GIB} GiB" in problem
    problems, notes = storage_findings(int(AURORA_MAX_VOLUME_GIB * 0.9), "source db")
    assert problems == [] and "little room to grow" in notes[-1]


# -- issue 12's rules, one unit each ---------------------------------------------------------------------------

from include.pgferry.aws.hooks import copy_source_arn, is_copy_of, same_snapshot, snapshot_arn  # noqa: E402
from include.pgferry.aws.settings import CLUSTER_FIELDS, INSTANCE_FIELDS, differences  # noqa: E402
from include.pgferry.aws.states import (  # noqa: E402
    CLUSTER_FAILED,
    INSTANCE_FAILED,
    SNAPSHOT_FAILED,
    cluster_verdict,
    snapshot_verdict,
)
from include.pgferry.aws.storage import wait_attempts, wait_budget_hours  # noqa: E402

ARN = "arn:aws:rds:us-east-1:123456789012:snapshot:nightly"


@pytest.mark.parametrize("state", sorted(SNAPSHOT_FAILED))
def test_every_terminal_snapshot_state_ends_the_wait_naming_it(state):
    verdict = snapshot_verdict({"Status": state}, "snapshot copy", "nightly", "us-west-2")
    assert not verdict.done
    assert verdict.failed.startswith(f"snapshot copy nightly in us-west-2 is '{state}' and will not become available: ")
    assert verdict.failed.endswith(SNAPSHOT_FAILED[state])


@pytest.mark.parametrize("state", sorted(CLUSTER_FAILED))
def test_every_terminal_cluster_state_ends_the_wait_naming_it(state):
    verdict = cluster_verdict({"Status": state}, [], [], "aurora-one", "us-east-1")
    assert f"DB cluster aurora-one in us-east-1 is '{state}'" in verdict.failed and CLUSTER_FAILED[state] in verdict.failed


@pytest.mark.parametrize("state", sorted(INSTANCE_FAILED))
def test_every_terminal_instance_state_ends_the_wait_naming_it(state):
    instances = [{"DBInstanceIdentifier": "aurora-one-1", "DBInstanceStatus": "available"},
                 {"DBInstanceIdentifier": "aurora-one-2", "DBInstanceStatus": state}]
    verdict = cluster_verdict({"Status": "available"}, instances, ["aurora-one-1", "aurora-one-2"], "aurora-one",
                              "us-east-1")
    assert verdict.failed == (f"DB instance aurora-one-2 of cluster aurora-one is '{state}' and will not become "
                              f"available: {INSTANCE_FAILED[state]}")


def test_waiting_states_keep_waiting_and_available_ends_it():
    assert snapshot_verdict({"Status": "creating", "PercentProgress": 40}, "snapshot", "s", "r").failed == ""
    assert not snapshot_verdict({"Status": "copying"}, "snapshot", "s", "r").done
    assert snapshot_verdict({"Status": "available"}, "snapshot", "s", "r").done
    busy = cluster_verdict({"Status": "available"}, [{"DBInstanceIdentifier": "c-1", "DBInstanceStatus": "creating"}],
                           ["c-1"], "c", "r")
    assert not busy.done and not busy.failed
    gone = cluster_verdict({"Status": "available"}, [], ["c-1"], "c", "r")
    assert "has no instance ['c-1']" in gone.failed
    assert "does not exist" in snapshot_verdict(None, "snapshot", "s", "r").failed


def test_a_copy_is_reused_only_as_a_copy_of_the_chosen_snapshot():
    copy = {"DBSnapshotIdentifier": "nightly", "DBSnapshotArn": "arn:aws:rds:us-west-2:123456789012:snapshot:nightly"}
    assert not is_copy_of(copy, ARN)  # same name, no source: not a copy
    assert is_copy_of({**copy, "SourceDBSnapshotIdentifier": ARN}, ARN)
    assert not is_copy_of({**copy, "SourceDBSnapshotIdentifier": ARN.replace("nightly", "other")}, ARN)
    by_name = {**copy, "SourceDBSnapshotIdentifier": "nightly", "SourceRegion": "us-east-1"}
    assert copy_source_arn(by_name) == ARN and is_copy_of(by_name, ARN)
    assert snapshot_arn("arn:aws:rds:us-east-1:123456789012:db:src", "us-west-2", "nightly") == copy["DBSnapshotArn"]
    assert same_snapshot(ARN, "Nightly") and not same_snapshot(ARN, copy["DBSnapshotArn"])


def test_settings_are_compared_field_by_field_and_every_difference_named():
    request = {"Port": 6543, "KmsKeyId": "key-1", "VpcSecurityGroupIds": ["sg-2", "sg-1"], "DBSubnetGroupName": "Subs",
               "DeletionProtection": True, "StorageType": "aurora-iopt1"}
    cluster = {"Port": 5432, "StorageEncrypted": False, "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-1"},
                                                                              {"VpcSecurityGroupId": "sg-2"}],
               "DBSubnetGroup": "subs", "DeletionProtection": True}
    found, unverifiable = differences(request, cluster, CLUSTER_FIELDS)
    assert found == ["port is 5432, this run asks for 6543", "KMS key is '', this run asks for 'key-1'"]
    assert unverifiable == ["storage type"]  # not in the describe answer: not compared, said so
    instance = {"DBInstanceClass": "db.r6g.large", "AvailabilityZone": "us-east-1a", "PubliclyAccessible": False}
    found, _ = differences({"DBInstanceClass": "db.r5.large", "AvailabilityZone": "us-east-1a",
                            "PubliclyAccessible": True}, instance, INSTANCE_FIELDS)
    assert found == ["instance class is 'db.r6g.large', this run asks for 'db.r5.large'",
                     "public access is False, this run asks for True"]


def test_waits_scale_with_the_snapshot_size():
    assert wait_budget_hours(2048, min_wait_hours=1, wait_hours_per_tib=3, max_wait_hours=24) == 7
    assert wait_budget_hours(100 * 1024, min_wait_hours=1, wait_hours_per_tib=3, max_wait_hours=24) == 24
    assert wait_budget_hours(None, min_wait_hours=1, wait_hours_per_tib=3, max_wait_hours=24) == 24
    assert wait_attempts(7, 60) == 420 and wait_attempts(0.0001, 60) == 1


def test_replicas_go_round_the_other_zones_first_with_promotion_tiers():
    from include.pgferry.aws.plan import MigrationRequest
    from include.pgferry.checks.aws import SnapshotContext

    req = MigrationRequest.from_params({"source_db_instance_identifier": "src", "db_cluster_identifier": "aur",
                                        "source_region": "us-east-1", "replica_count": 3,
                                        "availability_zone": "us-east-1b"})
    ctx = SnapshotContext(req, "20260101000000", "manual__x", None, None)
    ctx.subnet_azs = ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert [(i["db_instance_identifier"], i["availability_zone"], i["promotion_tier"]) for i in ctx.instance_plan()] == [
        ("aur-1", "us-east-1b", 0), ("aur-2", "us-east-1a", 1), ("aur-3", "us-east-1c", 2), ("aur-4", "us-east-1b", 3)]
    ctx.subnet_azs = []
    assert [i["availability_zone"] for i in ctx.instance_plan()] == ["us-east-1b", "", "", ""]


def test_identifiers_are_lower_cased_and_the_change_recorded():
    from include.pgferry.aws.plan import MigrationRequest

    req = MigrationRequest.from_params({"source_db_instance_identifier": "Shop-DB", "db_cluster_identifier": "aurora",
                                        "source_region": "us-east-1", "snapshot_identifier": "Nightly-1"})
    assert (req.source_db_instance_identifier, req.db_cluster_identifier, req.snapshot_identifier) == (
        "shop-db", "aurora", "nightly-1")
    assert req.normalised == {"source_db_instance_identifier": ("Shop-DB", "shop-db"),
                              "snapshot_identifier": ("Nightly-1", "nightly-1")}


def test_the_trigger_rebuilds_from_its_serialized_form():
    """The triggerer rebuilds a trigger from serialize(): class path and kwargs must round-trip."""
    import importlib

    from include.pgferry.aws.triggers import RdsAvailableTrigger

    trigger = RdsAvailableTrigger(kind="cluster", identifier="aur", instance_ids=["aur-1"], waiter_delay=5,
                                  waiter_max_attempts=7, aws_conn_id="aws_x", region_name="us-west-2")
    path, kwargs = trigger.serialize()
    module, name = path.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs) and path == "include.pgferry.aws.triggers.RdsAvailableTrigger"
