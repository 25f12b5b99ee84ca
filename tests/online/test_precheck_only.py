"""A precheck-only run of postgres_logical_migration: every check runs, the run ends there with every
other task skipped, its findings in XCom, and the target untouched."""
from __future__ import annotations

import pytest

from localstack.dagrun import load_dag, run_dag

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

DB = "precheck_only_src"


def state_xcom(dr):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dr.dag_id, task_ids="precheck",
                                                  key="state")).all()
        return XComModel.deserialize_value(rows[0]) if rows else None


def test_a_precheck_only_run_stops_after_precheck(airflow_db, pg_source, connections, untouched):
    pg_source.recreate_db(DB)
    pg_source.execute("CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'a')", DB)
    dr, states = run_dag(load_dag("postgres_logical_migration"), {**connections(DB), "precheck_only": True})
    assert states.pop("precheck") == "success"
    assert states and set(states.values()) == {"skipped"}, states
    state = state_xcom(dr)
    assert [r["name"] for r in state["plan"]["relations"]] == ["items"]
