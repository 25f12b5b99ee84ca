"""Run a pgferry DAG in this process, as `make demo` and the DAG tests do: load it from dags/, run it with
dag.test(), read what its tasks returned.

Airflow must be configured first (localstack.airflow_env.configure + migrate_db).
"""
from __future__ import annotations

from localstack import ROOT


class DagNotFound(LookupError):
    pass


def load_dag(dag_id: str):
    """The DAG `dag_id` from the project's dags/; any import error in dags/ is raised, naming the file."""
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(str(ROOT / "dags"))
    if bag.import_errors:
        raise DagNotFound(f"dags/ does not import cleanly: {bag.import_errors}")
    if dag_id not in bag.dags:
        raise DagNotFound(f"no DAG {dag_id} in dags/ (found {sorted(bag.dags)})")
    return bag.dags[dag_id]


def run_dag(dag, conf: dict):
    """dag.test() does not raise when a task fails: return the run and {task_id[map]: state}."""
    dr = dag.test(run_conf=conf)
    states = {}
    for ti in dr.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
    return dr, states


def xcom_value(dr, task_id: str, map_index: int = -1, key: str = "return_value"):
    """What `task_id` (at `map_index`) returned in run `dr` (or pushed under `key`), or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dr.dag_id, task_ids=task_id,
                                                  key=key, map_indexes=map_index)).all()
        return XComModel.deserialize_value(rows[0]) if rows else None
