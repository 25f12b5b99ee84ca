"""The catch-up wait's judgement of one look (online/lag_trigger.py): lag in bytes and seconds, and the
numbers each look carries to XCom."""
from datetime import datetime, timedelta, timezone

from include.pgferry.online.lag_trigger import lag_seconds, lag_verdict

NOW = datetime(2026, 12, 6, 21, 0, 0, tzinfo=timezone.utc)


def slot_row(lag_bytes, retained=50_000_000, wal_status="reserved"):
    return {"lag_bytes": lag_bytes, "retained_bytes": retained, "wal_status": wal_status,
            "confirmed_flush_lsn": "0/3000000", "looked_at": NOW}


def test_nothing_pending_is_zero_seconds_whatever_the_last_commit():
    assert lag_seconds(0, NOW, {"commit_time": NOW - timedelta(hours=3), "caught_up_at": None}) == 0.0
    assert lag_seconds(0, NOW, None) == 0.0


def test_pending_wal_counts_from_the_later_of_the_last_commit_and_the_last_catch_up():
    last_commit = NOW - timedelta(seconds=42.25)
    assert lag_seconds(4096, NOW, {"commit_time": last_commit, "caught_up_at": None}) == 42.2
    # the apply saw everything flushed 3 s ago (the source wrote only to tables the run does not migrate)
    assert lag_seconds(4096, NOW, {"commit_time": last_commit, "caught_up_at": NOW - timedelta(seconds=3)}) == 3.0
    # clocks a little apart never give a negative lag
    assert lag_seconds(4096, NOW, {"commit_time": NOW + timedelta(seconds=1), "caught_up_at": None}) == 0.0


def test_unknown_before_the_apply_recorded_anything():
    assert lag_seconds(4096, NOW, None) is None
    assert lag_seconds(4096, NOW, {"commit_time": None, "caught_up_at": None}) is None


def test_each_look_says_bytes_and_seconds_and_carries_its_numbers():
    v = lag_verdict(slot_row(25_000_000), "pgferry_x", 16 * 1024 * 1024,
                    {"commit_time": NOW - timedelta(seconds=7), "caught_up_at": None})
    assert not v.done and not v.failed
    assert v.progress == "apply lag 25.0 MB, 7 s (slot pgferry_x at 0/3000000, 50 MB of WAL retained)"
    assert v.data == {"lag_bytes": 25_000_000, "lag_seconds": 7.0, "retained_bytes": 50_000_000,
                      "confirmed_flush_lsn": "0/3000000", "looked_at": NOW.isoformat()}
    done = lag_verdict(slot_row(1000), "pgferry_x", 16 * 1024 * 1024, None)
    assert done.done and done.progress.startswith("apply lag 0.0 MB, ? s ")
    assert done.data["lag_seconds"] is None


def test_a_lost_slot_fails_without_numbers():
    v = lag_verdict(slot_row(10, wal_status="lost"), "pgferry_x", 0)
    assert "wal_status lost" in v.failed and v.data == {}


def test_a_slot_that_stood_still_less_than_the_bound_is_not_a_stall():
    from include.pgferry.online.lag_trigger import stall_failure
    assert stall_failure(slot_row(4096), None, 900, "pgferry_r") == ""                   # first look
    assert stall_failure(slot_row(4096), NOW - timedelta(seconds=899.9), 900, "pgferry_r") == ""


def test_a_slot_unmoved_for_the_bound_while_behind_names_the_dead_apply():
    from include.pgferry.online.lag_trigger import stall_failure
    failed = stall_failure(slot_row(12_500_000), NOW - timedelta(seconds=900), 900, "pgferry_r")
    assert failed.startswith("the apply has not moved the slot pgferry_r for 900 s (apply_stall_s 900) while "
                             "12.5 MB behind: apply_changes is not running or is stuck"), failed
    assert "clear apply_changes to start it again, or abort the run" in failed
