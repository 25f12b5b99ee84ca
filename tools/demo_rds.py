"""Demo of the rds_snapshot_to_aurora DAG against a local (patched) moto server.

    python -m tools.demo_rds --endpoint http://127.0.0.1:PORT   # a server started by the local stack
    python -m tools.demo_rds                                    # starts and stops its own server

Creates an RDS PostgreSQL instance in moto's us-east-1 (if absent), runs the DAG with dag.test() to
restore it as an Aurora PostgreSQL cluster in us-west-2 (snapshot, cross-Region copy, restore, primary
and one replica), and prints the cluster's endpoints. Running it again continues with what exists.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEMO_CONN_ID = "pgferry_aws_demo"
SOURCE = {"identifier": "demo-postgres", "region": "us-east-1", "version": "13.7"}
RUN_CONF = {
    "aws_conn_id": DEMO_CONN_ID, "source_db_instance_identifier": SOURCE["identifier"], "snapshot_identifier": "",
    "source_region": SOURCE["region"], "target_region": "us-west-2", "db_cluster_identifier": "demo-aurora",
    "db_instance_class": "db.r6g.large", "vpc_security_group_ids": [], "db_subnet_group_name": "",
    "publicly_accessible": False, "availability_zone": "us-west-2a", "port": 5432, "kms_key_id": "",
    "auto_minor_version_upgrade": True, "replica_count": 1, "poll_interval_seconds": 1, "max_wait_hours": 1,
}


def _ensure_source(moto_endpoint: str) -> None:
    import boto3

    rds = boto3.client("rds", region_name=SOURCE["region"], endpoint_url=moto_endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        rds.describe_db_instances(DBInstanceIdentifier=SOURCE["identifier"])
    except rds.exceptions.DBInstanceNotFoundFault:
        rds.create_db_instance(DBInstanceIdentifier=SOURCE["identifier"], Engine="postgres",
                               EngineVersion=SOURCE["version"], DBInstanceClass="db.m5.large", AllocatedStorage=50,
                               MasterUsername="app_admin", MasterUserPassword="demo-only-password")
        print(f"created source RDS PostgreSQL {SOURCE['version']} instance {SOURCE['identifier']} in "
              f"{SOURCE['region']} (moto)")


def _xcom(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id,
                                                 key="return_value")).first()
        return XComModel.deserialize_value(row) if row is not None else None


def run_demo(moto_endpoint: str, airflow_ready: bool = True, log: Path | None = None) -> dict[str, Any]:
    """Run the DAG against `moto_endpoint` and print the new cluster's endpoints.

    With `log`, the run's task logs go to that file (its path is printed) and only the summary to the
    terminal; a failed task's log tail is printed too.

    Returns {"state", "run_id", "tasks": {task_id: state}} plus, on success, what publish_endpoints
    returned (writer_endpoint, reader_endpoint, port, instances, next_step, ...).
    With airflow_ready=False a throwaway Airflow home is configured and migrated first; otherwise the
    caller has done that (localstack.airflow_env.configure + migrate_db).
    """
    from localstack import airflow_env

    if not airflow_ready:
        home = Path(tempfile.mkdtemp(prefix="pgferry-demo-rds-airflow-"))
        airflow_env.configure(home)
        airflow_env.migrate_db(home)
    airflow_env.set_connection(DEMO_CONN_ID, conn_type="aws", login="testing", password="testing",
                               extra={"endpoint_url": moto_endpoint, "region_name": SOURCE["region"]})

    from contextlib import nullcontext

    from localstack.dagrun import output_to

    if log is not None:
        print(f"running rds_snapshot_to_aurora ({SOURCE['identifier']} {SOURCE['region']} -> us-west-2, moto); "
              f"task logs: {log}")
    started = time.monotonic()
    try:
        with output_to(log) if log is not None else nullcontext():
            _ensure_source(moto_endpoint)
            from dags.rds_snapshot_to_aurora import rds_snapshot_to_aurora_dag
            from include.pgferry.aws.params import param_defaults

            # Every Param spelled out (the DAG's defaults, then the demo's): dag.test() runs in one process
            # share the DAG's Param objects, so a Param left out would keep an earlier run's value.
            dag_run = rds_snapshot_to_aurora_dag.test(run_conf={**param_defaults(), **RUN_CONF})
            result: dict[str, Any] = {
                "state": str(getattr(dag_run.state, "value", dag_run.state)), "run_id": dag_run.run_id,
                "tasks": {ti.task_id: str(getattr(ti.state, "value", ti.state))
                          for ti in dag_run.get_task_instances()}}
            published = _xcom(dag_run, "publish_endpoints") if result["state"] == "success" else None
    except Exception as exc:
        if log is None:
            raise
        print(f"rds_snapshot_to_aurora could not run: {exc!r}")
        from localstack.dagrun import print_failure
        print_failure(log, {})
        return {"state": "failed", "run_id": None, "tasks": {}}
    took = time.monotonic() - started
    print()
    if result["state"] != "success":
        print(f"rds_snapshot_to_aurora run {dag_run.run_id} failed in {took:.1f} s: {result['tasks']}")
        if log is not None:
            from localstack.dagrun import print_failure
            print_failure(log, result["tasks"])
        return result
    print(f"rds_snapshot_to_aurora: run success in {took:.1f} s: {SOURCE['identifier']} ({SOURCE['region']}) -> "
          f"Aurora cluster {published['db_cluster_identifier']} ({published['region']}), {published['engine']} "
          f"{published['engine_version']}")
    print(f"  writer endpoint: {published['writer_endpoint']}")
    print(f"  reader endpoint: {published['reader_endpoint']}")
    print(f"  port:            {published['port']}")
    for member in published["instances"]:
        print(f"  {member['role']:<6} {member['db_instance_identifier']} ({member['db_instance_class']}, "
              f"{member['availability_zone']})")
    print(f"  next: {published['next_step']['command']}")
    return {**published, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo_rds", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="moto server URL (default: start one for this demo)")
    parser.add_argument("--airflow-ready", action="store_true",
                        help="AIRFLOW_HOME is configured and migrated already (default: use a throwaway one)")
    args = parser.parse_args(argv)
    from localstack import moto_server
    from localstack.processes import stop_group

    server = moto_server.start(0) if args.endpoint is None else None
    try:
        result = run_demo(args.endpoint or server.endpoint, airflow_ready=args.airflow_ready)
    finally:
        if server is not None:
            stop_group(server.pid, grace=10)
    return 0 if result["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
