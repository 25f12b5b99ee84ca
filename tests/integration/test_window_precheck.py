"""The window guard inside the real precheck, against real servers: it refuses before anything is written
(outside the window: before even connecting), and ignore_window lets a manual run through.

The clock is frozen (time-machine) and each rule is run at every second of a minute: the window is declared
relative to the frozen moment, so no test depends on when it runs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from include.pgferry.logical import precheck as logical
from include.pgferry.checks.findings import PrecheckFailed
from tests.integration.conftest import SQL

pytestmark = pytest.mark.integration

MINUTE = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)     # a Tuesday night, UTC
SECONDS = range(60)


@pytest.fixture(scope="module")
def window_db(pg_source):
    pg_source.recreate_db("window_src")
    pg_source.run_sql_file(SQL / "subset.sql", "window_src")
    return "window_src"


def window_opened(now: datetime, minutes_ago: int, length_minutes: int) -> dict:
    """A daily window (UTC) that opened at the start of the minute `minutes_ago` minutes before `now`."""
    opened = now - timedelta(minutes=minutes_ago)
    return {"cron": f"{opened.minute} {opened.hour} * * *", "timezone": "UTC", "length_minutes": length_minutes}


def frozen(second: int):
    return time_machine.travel(MINUTE.replace(second=second), tick=False)


def test_a_run_started_outside_its_window_stops_before_connecting(window_db, connections, untouched):
    for second in SECONDS:
        now = MINUTE.replace(second=second)
        params = {**connections(window_db), "source_conn_id": "no_such_connection",
                  "window": window_opened(now, minutes_ago=30, length_minutes=10)}
        with frozen(second), pytest.raises(PrecheckFailed) as e:
            logical.precheck(params)
        message = str(e.value)
        assert "[window] started outside the window" in message, second
        assert "no_such_connection" not in message and "cannot connect" not in message


def test_a_load_that_would_not_fit_is_refused_with_every_other_finding(window_db, connections, untouched):
    # between 1 and 60 seconds of the window are left; the estimate alone has 2 minutes of fixed overhead
    for second in SECONDS:
        now = MINUTE.replace(second=second)
        params = {**connections(window_db), "window": window_opened(now, minutes_ago=1, length_minutes=2)}
        with frozen(second), pytest.raises(PrecheckFailed) as e:
            logical.precheck(params)
        assert "[window] would not fit in the window" in str(e.value), second
        assert "outside the window" not in str(e.value)


def test_a_load_that_fits_passes(window_db, connections, untouched):
    for second in SECONDS:
        now = MINUTE.replace(second=second)
        with frozen(second):
            state = logical.precheck({**connections(window_db),
                                      "window": window_opened(now, minutes_ago=1, length_minutes=120)})
        assert state["source_bytes"] > 0
        assert not [w for w in state["warnings"] if w["check"] == "window"], second


def test_ignore_window_lets_a_manual_run_through_with_a_warning(window_db, connections, untouched):
    for second in SECONDS:
        now = MINUTE.replace(second=second)
        with frozen(second):
            state = logical.precheck({**connections(window_db), "ignore_window": True,
                                      "window": window_opened(now, minutes_ago=30, length_minutes=10)})
        [warning] = [w for w in state["warnings"] if w["check"] == "window"]
        assert warning["level"] == "warning" and "started outside the window" in warning["message"], second


def test_without_a_window_precheck_is_unchanged(window_db, connections, untouched):
    state = logical.precheck(connections(window_db))
    assert not [w for w in state["warnings"] if w["check"] == "window"]
