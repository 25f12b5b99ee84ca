"""Session-wide test harness: a private Airflow home, throwaway PostgreSQL clusters, a migrations.yaml."""
from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from localstack import airflow_env

_HOME = Path(tempfile.mkdtemp(prefix="pgferry-test-airflow-"))
airflow_env.configure(_HOME)

from localstack.pgcluster import PgCluster  # noqa: E402
from tests.support.migration import schema_lines, unique_db  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db():
    airflow_env.migrate_db(_HOME)
    yield _HOME


@pytest.fixture(scope="session")
def cluster_root():
    root = Path(tempfile.mkdtemp(prefix="pgferry-test-clusters-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_source(cluster_root):
    c = PgCluster(cluster_root, "source").start()
    yield c
    c.destroy()


@pytest.fixture(scope="session")
def pg_target(cluster_root):
    c = PgCluster(cluster_root, "target").start()
    yield c
    c.destroy()


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


@pytest.fixture
def untouched(pg_target, target_db):
    """Asserts after the test that the target database is exactly as it was before."""
    before = schema_lines(pg_target, target_db)
    yield
    assert schema_lines(pg_target, target_db) == before


@pytest.fixture
def migrations_file(tmp_path, monkeypatch):
    """Write a migrations.yaml and point pgferry (and the DAG file) at it."""
    from include.pgferry.schedule.declared import FILE_ENV

    def write(text: str) -> Path:
        path = tmp_path / "migrations.yaml"
        path.write_text(textwrap.dedent(text))
        monkeypatch.setenv(FILE_ENV, str(path))
        return path
    return write


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)

