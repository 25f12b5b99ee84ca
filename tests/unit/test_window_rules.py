"""The window guard, both ways: what fits passes, a load too long or a start outside the window is refused
with a message that says which, and ignore_window overrides. Every moment is given (`now`) or frozen
(time-machine): nothing here reads the real clock, and the boundary rules hold at every second of a minute."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine

from include.pgferry.checks import window as window_checks
from include.pgferry.checks.window import fit_findings, start_findings
from include.pgferry.schedule import throughput
from include.pgferry.schedule.window import Window, check, parse_length

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHTLY = Window(cron="30 2 * * *", timezone="Asia/Shanghai", length=timedelta(hours=3))


def at(hour: int, minute: int, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def test_a_load_that_fits_passes():
    v = check(NIGHTLY, at(2, 45), timedelta(hours=1))
    assert (v.ok, v.reason) == (True, "fits")
    assert "2h45m left" in v.message


def test_a_load_too_long_for_what_is_left_would_not_fit():
    v = check(NIGHTLY, at(4, 30), timedelta(hours=1, minutes=30))   # the window closes at 05:30
    assert (v.ok, v.reason) == (False, "would not fit")
    assert v.message.startswith("would not fit in the window")
    assert "1h30m" in v.message and "only 1h00m" in v.message and "05:30" in v.message


def test_a_start_after_the_window_closed_is_outside_the_window():
    v = check(NIGHTLY, at(9, 0), timedelta(minutes=5))
    assert (v.ok, v.reason) == (False, "outside the window")
    assert "started outside the window" in v.message
    assert "2026-03-10 05:30 CST" in v.message            # when it last closed, in the window's zone
    assert "2026-03-11 02:30 CST" in v.message            # when it opens next


def test_a_start_before_the_window_opens_is_outside_the_window():
    v = check(NIGHTLY, at(2, 29), None)
    assert v.reason == "outside the window"


def test_the_window_is_read_in_its_time_zone_not_utc():
    # 02:40 Shanghai is 18:40 UTC the day before: inside the window whichever way the clock is given
    assert check(NIGHTLY, datetime(2026, 3, 9, 18, 40, tzinfo=timezone.utc), timedelta(minutes=10)).ok
    assert not check(NIGHTLY, datetime(2026, 3, 10, 2, 40, tzinfo=timezone.utc), timedelta(minutes=10)).ok


def test_a_window_across_midnight():
    late = Window(cron="0 23 * * *", timezone="Europe/Berlin", length=timedelta(hours=4))
    assert check(late, datetime(2026, 3, 11, 1, 0, tzinfo=ZoneInfo("Europe/Berlin")), timedelta(hours=1)).ok
    v = check(late, datetime(2026, 3, 11, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")), timedelta(hours=1))
    assert v.reason == "would not fit"


@pytest.mark.parametrize("now, estimate", [(at(9, 0), None), (at(4, 30), timedelta(hours=2))])
def test_ignore_window_overrides_both_refusals(now, estimate):
    refused = check(NIGHTLY, now, estimate)
    v = check(NIGHTLY, now, estimate, ignore_window=True)
    assert not refused.ok
    assert (v.ok, v.reason, v.overrode) == (True, "overridden", refused.reason)
    assert refused.message in v.message


def test_no_window_no_guard():
    assert check(None, at(12, 0), timedelta(days=2)).ok
    assert start_findings({"source_conn_id": "x"}) == []
    assert fit_findings({"source_conn_id": "x"}, lambda: pytest.fail("no window: the source is not asked")) == []


def test_precheck_findings_name_the_window_check():
    params = {"window": NIGHTLY.as_param(), "ignore_window": False}
    [outside] = start_findings(params, now=at(12, 0))
    assert (outside.level, outside.check) == ("error", "window")
    assert "outside the window" in outside.message
    # 20 GB at the default 20 MB/s is ~19 minutes on top of the fixed overhead: not in 10 minutes
    [too_long] = fit_findings(params, 20_000_000_000, now=at(5, 20), mb_per_s=None or throughput.DEFAULT_MB_S)
    assert (too_long.level, too_long.check) == ("error", "window") and "would not fit" in too_long.message
    assert fit_findings(params, 20_000_000_000, now=at(2, 31), mb_per_s=throughput.DEFAULT_MB_S) == []
    [warning] = start_findings({**params, "ignore_window": True}, now=at(12, 0))
    assert warning.level == "warning" and "ignore_window is set" in warning.message


def test_estimate_uses_the_measured_rate_or_the_conservative_default():
    gb = 10_000_000_000
    assert throughput.estimate(gb, None) == throughput.FIXED_OVERHEAD + timedelta(seconds=500)   # 20 MB/s
    assert throughput.estimate(gb, 100.0) == throughput.FIXED_OVERHEAD + timedelta(seconds=100)
    assert throughput.measured_mb_s(1_000_000, 30) is None           # too small to measure anything
    assert throughput.measured_mb_s(500_000_000, 20) == 25.0


@pytest.mark.parametrize("text, minutes", [("3h", 180), ("90m", 90), ("1h30m", 90), (45, 45), ("2 h", 120)])
def test_window_lengths(text, minutes):
    assert parse_length(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "3 days", "0m", "25h", True])
def test_bad_window_lengths_are_refused(text):
    with pytest.raises(ValueError):
        parse_length(text)


EVERY_SECOND = pytest.mark.parametrize("second", range(60))


@EVERY_SECOND
def test_rule_the_window_opens_at_its_cron_minute_not_a_second_before(second):
    before = at(2, 29).replace(second=second, microsecond=999_999)
    opened = at(2, 30).replace(second=second)
    assert check(NIGHTLY, before, None).reason == "outside the window"
    assert check(NIGHTLY, opened, None).reason == "fits"
    assert NIGHTLY.opening_at_or_before(opened) == at(2, 30)
    assert NIGHTLY.opening_at_or_before(before) == at(2, 30, day=9)


@EVERY_SECOND
def test_rule_the_window_closes_at_opening_plus_length(second):
    assert check(NIGHTLY, at(5, 29).replace(second=second, microsecond=999_999), None).reason == "fits"
    v = check(NIGHTLY, at(5, 30).replace(second=second), None)
    assert v.reason == "outside the window" and "last closed at 2026-03-10 05:30 CST" in v.message


@EVERY_SECOND
def test_rule_a_load_must_end_before_the_window_closes(second):
    # 10 minutes of window are left at 05:20:00; a 9-minute load fits only while 9 minutes remain
    now = at(5, 20).replace(second=second)
    assert check(NIGHTLY, now, timedelta(minutes=9)).reason == "fits"      # 05:20:59 + 9m = 05:29:59
    assert check(NIGHTLY, now, timedelta(minutes=10)).reason == ("fits" if second == 0 else "would not fit")


@EVERY_SECOND
def test_rule_precheck_reads_the_frozen_clock_when_not_given_one(second):
    """start_findings/fit_findings without `now` read checks.window.utc_now: frozen here, inside and outside."""
    params = {"window": NIGHTLY.as_param(), "ignore_window": False}
    with time_machine.travel(at(2, 30).replace(second=second), tick=False):
        assert window_checks.utc_now() == at(2, 30).replace(second=second)
        assert start_findings(params) == []
        assert fit_findings(params, 1_000_000, mb_per_s=throughput.DEFAULT_MB_S) == []
    with time_machine.travel(at(5, 30).replace(second=second), tick=False):
        [outside] = start_findings(params)
        assert (outside.level, outside.check) == ("error", "window") and "outside the window" in outside.message
    with time_machine.travel(at(5, 29).replace(second=second), tick=False):
        # the fixed overhead alone (2 minutes) no longer fits in what is left of the window
        [too_long] = fit_findings(params, 1_000_000, mb_per_s=throughput.DEFAULT_MB_S)
        assert "would not fit" in too_long.message


def test_rule_the_opening_follows_the_window_time_zone_across_daylight_saving():
    # Berlin leaves CET for CEST at 02:00 on 2026-03-29: 01:30 local is 00:30 UTC that day, 23:30 UTC the next
    berlin = Window(cron="30 1 * * *", timezone="Europe/Berlin", length=timedelta(hours=1))
    assert berlin.opening_at_or_before(datetime(2026, 3, 29, 0, 45, tzinfo=timezone.utc)) == \
        datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)
    assert check(berlin, datetime(2026, 3, 29, 23, 45, tzinfo=timezone.utc), None).reason == "fits"
    assert check(berlin, datetime(2026, 3, 30, 0, 45, tzinfo=timezone.utc), None).reason == "outside the window"


def test_rule_now_must_carry_a_time_zone():
    with pytest.raises(ValueError, match="timezone-aware"):
        check(NIGHTLY, datetime(2026, 3, 10, 3, 0), None)
