"""A lane's own bounds on a real server through the TCP proxy: a source that goes silent mid-COPY ends the read
with a message that says so, within the no-progress bound, and the lane's cleanup does not hang on it."""
from __future__ import annotations

import time

import psycopg
import pytest

from include.pgferry.logical import copying, progress
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.faults, pytest.mark.integration]

NO_PROGRESS_S = 3
BOUND = 30          # far above the 3 s; reaching it fails the test
BIG = "COPY (SELECT repeat('x', 1000) FROM generate_series(1, 2000000)) TO STDOUT"   # ~2 GB: never ends by itself


def test_a_silent_source_fails_the_read_within_the_no_progress_bound(pg_source):
    with TcpProxy(pg_source.port) as proxy:
        conn = psycopg.connect(host=proxy.host, port=proxy.port, dbname="postgres", user="postgres",
                               connect_timeout=10, autocommit=True)
        try:
            progress.start_lane("lane test", 0, no_progress_s=NO_PROGRESS_S)
            got, cut_at = 0, None
            with pytest.raises(progress.NoProgress) as stalled:
                with conn.cursor().copy(BIG):
                    for block in copying.copy_out_blocks(conn, what="public.big#1"):
                        got += len(block)
                        if got > 4_000_000 and cut_at is None:
                            proxy.blackhole(existing_only=True)
                            cut_at = time.monotonic()
                        if cut_at is not None and time.monotonic() - cut_at > BOUND:
                            pytest.fail(f"still reading {BOUND} s after the cut")
            waited = time.monotonic() - cut_at
        finally:
            conn.close()
            proxy.reset()
    assert f"no bytes from the source for {NO_PROGRESS_S} s while copying public.big#1" in str(stalled.value)
    assert NO_PROGRESS_S <= waited < BOUND
    print(f"a silent source ended the read {waited:.1f} s after the cut (bound {NO_PROGRESS_S} s)")
