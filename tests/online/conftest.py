"""Online-mode fixtures: one source cluster with logical decoding on, shared by every online test module
(the target is the session's ordinary cluster, tests/conftest.py)."""
from __future__ import annotations

import psycopg
import pytest

from include.pgferry.pg.endpoint import SESSION_OPTIONS
from localstack.pgcluster import PgCluster

LOGICAL_SETTINGS = {"wal_level": "logical", "max_replication_slots": "10", "max_wal_senders": "10"}
# pgferry's session settings (as its endpoints connect), and bounds on every statement and lock wait
TIMEOUT_OPTIONS = SESSION_OPTIONS + " -c statement_timeout=30000 -c lock_timeout=10000"


@pytest.fixture(scope="session")
def logical_source(cluster_root):
    c = PgCluster(cluster_root, "logical_source", settings=LOGICAL_SETTINGS).start()
    yield c
    c.destroy()


def connect(cluster: PgCluster, dbname: str, autocommit: bool = True, user: str = "postgres",
            **kwargs) -> psycopg.Connection:
    """A bounded session: connect, statement and lock waits all time out."""
    return psycopg.connect(cluster.dsn(dbname, user), autocommit=autocommit, connect_timeout=10,
                           options=TIMEOUT_OPTIONS, **kwargs)
