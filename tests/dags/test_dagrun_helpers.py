"""localstack.dagrun, the helpers `make demo` and the DAG tests run DAGs through: a DAG is found by id in
dags/, and an unknown id is refused naming the DAGs that exist."""
from __future__ import annotations

import pytest

from localstack.dagrun import DagNotFound, load_dag


def test_rule_a_dag_is_loaded_by_its_id_from_dags():
    assert load_dag("postgres_logical_migration").dag_id == "postgres_logical_migration"


def test_rule_an_unknown_dag_id_names_the_dags_there_are():
    with pytest.raises(DagNotFound) as e:
        load_dag("no_such_dag")
    assert "no DAG no_such_dag in dags/" in str(e.value) and "postgres_logical_migration" in str(e.value)
