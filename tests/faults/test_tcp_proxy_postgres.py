"""The TCP proxy in front of a real PostgreSQL: a blackhole mid-COPY, and what libpq's settings do about it.

A COPY FROM STDIN into a blackholed flow fills the window and blocks in send; with `tcp_user_timeout` (plus
keepalives, which guard the idle moments) libpq gives up within that bound and psycopg raises; the server's
backend meanwhile sits in ClientRead, as the issue saw in production-like runs.
"""
from __future__ import annotations

import time

import psycopg
import pytest

from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.faults, pytest.mark.integration]

# what a client sets to notice a dead peer: probes after 2 s idle, every 1 s, 3 lost = dead; and no byte
# may stay unacknowledged (or a window stay shut) longer than 4 s
DEAD_PEER = {"keepalives": 1, "keepalives_idle": 2, "keepalives_interval": 1, "keepalives_count": 3,
             "tcp_user_timeout": 4000}
BOUND = 60.0      # far above the 4 s the settings promise; the test fails if it is reached
ROW = ("x" * 1000 + "\n").encode()


def backend_wait_event(cluster, application_name: str):
    rows = cluster.query("SELECT wait_event FROM pg_stat_activity WHERE application_name = %s",
                         params=(application_name,))
    return rows[0][0] if rows else None


def test_a_blackholed_copy_fails_within_tcp_user_timeout(pg_target):
    pg_target.execute("DROP TABLE IF EXISTS proxy_blackhole; CREATE UNLOGGED TABLE proxy_blackhole (t text)")
    app = "pgferry-proxy-test"
    with TcpProxy(pg_target.port) as proxy:
        conn = psycopg.connect(host=proxy.host, port=proxy.port, dbname="postgres", user="postgres",
                               connect_timeout=10, application_name=app, **DEAD_PEER)
        try:
            with conn.cursor() as cur:
                with pytest.raises(psycopg.OperationalError) as failure:
                    with cur.copy("COPY proxy_blackhole (t) FROM STDIN") as copy:
                        for _ in range(1000):                 # ~1 MB through the healthy flow
                            copy.write(ROW)
                        forwarded_before = proxy.bytes_forwarded["to_server"]
                        assert forwarded_before > 0
                        proxy.blackhole()
                        deadline = time.monotonic() + BOUND
                        while time.monotonic() < deadline:    # writes until libpq gives up, or the bound
                            copy.write(ROW * 64)
                        pytest.fail(f"COPY into a blackholed flow still writing after {BOUND:.0f} s")
            print(f"libpq gave up after {time.monotonic() - deadline + BOUND:.1f} s: {failure.value}")
            assert proxy.bytes_forwarded["to_server"] == forwarded_before
            assert "timed out" in str(failure.value).lower() or "connection" in str(failure.value).lower()
            # the server never heard of it: its backend waits for the client's next COPY data
            assert backend_wait_event(pg_target, app) == "ClientRead"
            assert proxy.open_flows == 1
        finally:
            conn.close()
        assert proxy.reset() == 1
    for _ in range(100):                                        # the RST ends the backend
        if backend_wait_event(pg_target, app) is None:
            break
        time.sleep(0.1)
    assert backend_wait_event(pg_target, app) is None
    assert pg_target.query("SELECT count(*) FROM proxy_blackhole")[0][0] == 0   # the COPY rolled back
