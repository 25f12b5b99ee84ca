"""The online precheck's retained-WAL estimate (online/precheck.py): the WAL rate sampled with an injected
clock and sleep, the load's length from the data's size, and when it warns (never refuses)."""
from datetime import timedelta

from include.pgferry.checks.findings import WARNING
from include.pgferry.online.precheck import (ONLINE_LOAD_MB_S, WalEstimate, retained_wal_findings,
                                             sample_wal_rate)
from include.pgferry.schedule import throughput


class FakeTime:
    """A clock that only the sleep moves; the source writes `bytes_per_s` of WAL while it sleeps."""

    def __init__(self, bytes_per_s: int):
        self.now, self.lsn, self.rate, self.slept = 100.0, 0x3000000, bytes_per_s, []

    def sleep(self, s):
        self.slept.append(s)
        self.now += s + 0.5          # the second read comes half a second late: the clock says so
        self.lsn += int(self.rate * (s + 0.5))


def test_the_rate_is_the_wal_written_over_the_time_that_really_passed():
    t = FakeTime(2_000_000)
    assert sample_wal_rate(lambda: t.lsn, 10, lambda: t.now, t.sleep) == 2_000_000
    assert t.slept == [10]
    idle = FakeTime(0)
    assert sample_wal_rate(lambda: idle.lsn, 3, lambda: idle.now, idle.sleep) == 0.0


def test_the_load_is_the_size_at_the_conservative_rate_plus_fixed_costs():
    est = WalEstimate.of(1_000_000, 36_000_000_000)        # 36 GB at 20 MB/s: 30 min, plus 2 min
    assert ONLINE_LOAD_MB_S == throughput.DEFAULT_MB_S == 20
    assert est.load == timedelta(minutes=32) and est.retained_bytes == 1_000_000 * 32 * 60


EST = WalEstimate(1_000_000, timedelta(minutes=32), 1_920_000_000)


def test_over_the_cap_warns_that_the_run_would_fail_there():
    [f] = retained_wal_findings(EST, 10, 36_000_000_000, cap=1_000_000_000, free_bytes=500_000_000_000)
    assert f.level == WARNING and f.check == "retained WAL"
    assert f.message == ("the source wrote 1.00 MB/s of WAL over a 10 s sample; the load of 36.00 GB is estimated "
                         "at 32 min (at 20 MB/s plus 2 min), so the run's slot would keep about 1.92 GB of WAL on "
                         "the source by its end, plus 3.60 GB for each hour until the cutover: more than "
                         "max_retained_wal_bytes (1.00 GB), at which the run fails and drops its slot")
    assert "raise max_retained_wal_bytes" in f.fix


def test_over_the_free_space_of_pg_wal_warns_that_the_disk_could_fill():
    [f] = retained_wal_findings(EST, 10, 36_000_000_000, cap=None, free_bytes=1_500_000_000)
    assert f.level == WARNING and "more than the 1.50 GB free where the source keeps its WAL" in f.message


def test_nothing_to_check_against_says_so_and_names_cloudwatch():
    [f] = retained_wal_findings(EST, 10, 36_000_000_000, cap=None, free_bytes=None)
    assert f.level == WARNING and "cannot be read from here" in f.message
    assert "on RDS/Aurora: check FreeStorageSpace in CloudWatch" in f.message
    assert f.fix.startswith("set max_retained_wal_bytes below the source's free storage")


def test_within_the_cap_and_the_free_space_or_no_wal_at_all_is_silent():
    assert retained_wal_findings(EST, 10, 36_000_000_000, cap=2_000_000_000, free_bytes=None) == []
    assert retained_wal_findings(EST, 10, 36_000_000_000, cap=None, free_bytes=10_000_000_000) == []
    assert retained_wal_findings(WalEstimate(0.0, timedelta(minutes=2), 0), 10, 0, None, None) == []
