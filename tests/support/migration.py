"""Helpers to run pgferry DAGs for real and to compare databases independently of pgferry's own checks."""
from __future__ import annotations

import subprocess
import uuid

from tests.support.airflow_env import ROOT
from tests.support.pgcluster import pg_bindir


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    assert dag_id in bag.dags, f"no DAG {dag_id} in dags/ (found {sorted(bag.dags)})"
    return bag.dags[dag_id]


def run_dag(dag, conf: dict):
    """dag.test() does not raise when a task fails: return the run and {task_id[map]: state}."""
    dr = dag.test(run_conf=conf)
    states = {}
    for ti in dr.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
    return dr, states


def xcom_value(dr, task_id: str, map_index: int = -1):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dr.dag_id, task_ids=task_id,
                                                  key="return_value", map_indexes=map_index)).all()
        return XComModel.deserialize_value(rows[0]) if rows else None


def unique_db(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _pg_dump(cluster, dbname: str, *args: str) -> str:
    return subprocess.run([str(pg_bindir() / "pg_dump"), "-d", cluster.dsn(dbname), *args],
                          capture_output=True, text=True, check=True).stdout


def schema_lines(cluster, dbname: str, *args: str) -> list[str]:
    """pg_dump --schema-only without the lines that differ between any two dumps (restrict keys, versions)."""
    return [l for l in _pg_dump(cluster, dbname, "--schema-only", *args).splitlines()
            if not l.startswith("\\") and not l.startswith("-- Dumped")]


def data_rows(cluster, dbname: str, *args: str) -> list[str]:
    """Every row as an INSERT statement, sorted: order-free data comparison."""
    out = _pg_dump(cluster, dbname, "--data-only", "--inserts", "--rows-per-insert=1", *args)
    return sorted(l for l in out.splitlines() if l.startswith("INSERT INTO"))
