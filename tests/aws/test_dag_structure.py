"""rds_snapshot_to_aurora as a DAG file: wiring, params, and a cheap parse. No AWS."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "rds_snapshot_to_aurora.py"


@pytest.fixture(scope="module")
def dag():
    from dags.rds_snapshot_to_aurora import rds_snapshot_to_aurora_dag

    return rds_snapshot_to_aurora_dag


def test_dag_id_tags_retries_docs(dag):
    assert dag.dag_id == DAG_FILE.stem
    assert {"pgferry", "aws", "aurora"} <= set(dag.tags)
    assert dag.doc_md and "precheck" in dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id


def test_task_order(dag):
    def downstream(task_id):
        return set(dag.get_task(task_id).downstream_task_ids)

    assert downstream("precheck") >= {"create_snapshot", "snapshot_available", "copy_needed", "restore_cluster"}
    assert downstream("create_snapshot") == {"snapshot_available"}
    assert downstream("snapshot_available") == {"copy_needed", "restore_cluster"}
    assert downstream("copy_needed") == {"copy_snapshot"}
    assert downstream("copy_snapshot") == {"copy_finished"}
    assert downstream("copy_finished") == {"restore_cluster"}
    assert downstream("restore_cluster") == {"create_primary_instance"}
    assert downstream("create_primary_instance") == {"create_replicas"}
    assert downstream("create_replicas") == {"cluster_available"}
    assert downstream("cluster_available") == {"publish_endpoints"}
    assert dag.get_task("restore_cluster").trigger_rule == "none_failed_min_one_success"


def test_every_param_has_a_title_a_description_and_a_schema(dag):
    from dags.rds_snapshot_to_aurora import PARAMS

    for name, param in PARAMS.items():
        assert param.schema.get("title"), name
        assert param.description, name
        assert param.schema.get("type"), name
    assert set(PARAMS) >= {
        "aws_conn_id", "source_db_instance_identifier", "snapshot_identifier", "source_region", "target_region",
        "db_cluster_identifier", "db_instance_class", "vpc_security_group_ids", "db_subnet_group_name",
        "publicly_accessible", "availability_zone", "port", "kms_key_id", "auto_minor_version_upgrade",
        "replica_count"}


def test_the_guide_documents_every_param():
    from dags.rds_snapshot_to_aurora import PARAMS

    page = (ROOT / "docs" / "snapshot-to-aurora.md").read_text()
    for name in PARAMS:
        assert f"`{name}`" in page, name


# What parsing the DAG file must not load: boto3 and botocore (the provider's hook modules import them),
# the provider's AWS hooks, RDS operators, sensors, triggers and waiters, our trigger and checks.
HEAVY_AT_PARSE = ("boto3", "botocore", "aiobotocore", "airflow.providers.amazon.aws.hooks",
                  "airflow.providers.amazon.aws.operators", "airflow.providers.amazon.aws.sensors",
                  "airflow.providers.amazon.aws.triggers", "airflow.providers.amazon.aws.waiters",
                  "include.pgferry.aws.triggers", "include.pgferry.checks", "psycopg")


def test_parsing_loads_no_aws_sdk_provider_hook_trigger_or_check_module():
    """Deterministic stand-in for a parse-time budget: which modules a parse loads, not how long it takes."""
    code = ("import sys, airflow.sdk; before = set(sys.modules); import dags.rds_snapshot_to_aurora; "
            "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    loaded = eval(out.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's repr of a list of names
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY_AT_PARSE))
    assert heavy == []
    assert "include.pgferry.aws.operators" in loaded  # the check looks at the real import
