"""Session-wide test harness: a private Airflow home, throwaway PostgreSQL clusters."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support import airflow_env

_HOME = Path(tempfile.mkdtemp(prefix="pgferry-test-airflow-"))
airflow_env.configure(_HOME)

from tests.support.pgcluster import PgCluster  # noqa: E402


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


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)
