from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import airflow_env
from tests.support.migration import unique_db

SQL = Path(__file__).resolve().parents[1] / "support" / "sql"


@pytest.fixture(scope="session")
def awkward_db(pg_source):
    """The deliberately awkward database, loaded once on the source cluster."""
    pg_source.recreate_db("awkward")
    pg_source.run_sql_file(SQL / "awkward.sql", "awkward")
    return "awkward"


@pytest.fixture
def target_db(pg_target):
    """A fresh empty target database per test, dropped afterwards."""
    name = unique_db("tgt")
    pg_target.recreate_db(name)
    yield name
    pg_target.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def connections(pg_source, pg_target, target_db):
    """Airflow connections pgferry_source/pgferry_target; returns a function to repoint the source."""
    def use(source_db: str, target=None, source_user="postgres", target_user="postgres"):
        airflow_env.postgres_connection("pgferry_source", pg_source.port, source_db, user=source_user)
        airflow_env.postgres_connection("pgferry_target", pg_target.port, target or target_db, user=target_user)
        return {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target"}
    return use
