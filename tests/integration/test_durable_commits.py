"""A step that reported success keeps its commits through a crash of the server right after it.

The cluster commits asynchronously by default (as the test clusters and some tuned production targets do) and
its WAL writer sleeps 10 s, so an asynchronous commit stays unflushed long enough for an immediate stop (a
crash) to lose it. The found failure: `sequences` committed its setval, the target crashed 0.1 s later, and
validate found the sequences back at 1.
"""
from __future__ import annotations

import pytest

from include.pgferry.pg import durability
from include.pgferry.pg.endpoint import PgEndpoint
from localstack.pgcluster import PgCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lazy_wal(cluster_root):
    c = PgCluster(cluster_root, "lazy-wal", settings={"fsync": "on", "synchronous_commit": "off",
                                                       "wal_writer_delay": "10000ms",
                                                       "wal_writer_flush_after": "1GB"}).start()
    c.execute("CREATE DATABASE d")
    c.execute("CREATE TABLE t (n int)", dbname="d")
    yield c
    c.destroy()


def endpoint(cluster) -> PgEndpoint:
    return PgEndpoint(conn_id="lazy_wal", host="127.0.0.1", port=cluster.port, dbname="d", user="postgres")


def crash(cluster):
    cluster.stop()       # immediate: what is not flushed is gone
    cluster.start()


def rows(cluster) -> list[int]:
    return [n for (n,) in cluster.query("SELECT n FROM t ORDER BY n", dbname="d")]


def test_pgferry_sessions_commit_synchronously_whatever_the_server_default(lazy_wal):
    with endpoint(lazy_wal).connect(autocommit=True) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        conn.execute("INSERT INTO t VALUES (1)")
    crash(lazy_wal)
    assert 1 in rows(lazy_wal)


def test_the_barrier_makes_an_earlier_asynchronous_commit_of_another_session_durable(lazy_wal):
    lazy_wal.execute("TRUNCATE t", dbname="d")
    with lazy_wal.connect("d") as loading:          # a lane's session: asynchronous commits
        loading.execute("SET synchronous_commit = off")
        loading.execute("INSERT INTO t VALUES (2)")
        with endpoint(lazy_wal).connect(autocommit=True) as other:
            durability.flush_commits(other)
    crash(lazy_wal)
    assert rows(lazy_wal) == [2]


def test_without_the_barrier_the_crash_loses_the_asynchronous_commit(lazy_wal):
    """The oracle of the two tests above: this cluster really loses an unflushed commit. The WAL writer's
    10 s timer may fire in the few milliseconds between the insert and the crash: of three tries, one loses it."""
    lost = []
    for n in (3, 4, 5):
        lazy_wal.execute("TRUNCATE t", dbname="d")
        with endpoint(lazy_wal).connect(autocommit=True) as conn:   # TRUNCATE made durable
            durability.flush_commits(conn)
        with lazy_wal.connect("d") as loading:
            loading.execute("SET synchronous_commit = off")
            loading.execute("INSERT INTO t VALUES (%s)", (n,))
        crash(lazy_wal)
        lost.append(rows(lazy_wal) == [])
        if lost[-1]:
            break
    assert any(lost), "every try kept the asynchronous commit: this cluster cannot show a lost commit"
