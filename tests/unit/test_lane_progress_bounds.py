"""A copy lane's own bounds (logical/progress): no bytes for the bound, the lane's deadline from its bytes."""
import pytest

from include.pgferry.logical import progress
from include.pgferry.logical.progress import LaneDeadlineExceeded, NoProgress, lane_deadline_s, start_lane


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def silent_socket(clock):
    """select() on a socket that never becomes readable: the clock moves by the timeout asked for."""
    calls = []

    def select_fn(r, w, x, timeout):
        calls.append(timeout)
        clock.now += timeout
        return [], [], []
    return select_fn, calls


def test_a_silent_source_fails_after_the_no_progress_bound_naming_the_unit():
    clock = Clock()
    bounds = start_lane("orders (+2)", 10_000_000, no_progress_s=12, clock=clock)
    select_fn, calls = silent_socket(clock)
    with pytest.raises(NoProgress, match=r"no bytes from the source for 12 s while copying shop\.orders#1"):
        progress.wait_readable(7, "shop.orders#1", bounds, select_fn)
    assert clock.now - 1000.0 == pytest.approx(12) and max(calls) <= 5


def test_data_in_time_returns_at_once():
    clock = Clock()
    bounds = start_lane("l", 0, no_progress_s=12, clock=clock)
    assert progress.wait_readable(7, "u", bounds, lambda r, w, x, t: (r, [], [])) is None


def test_a_lane_past_its_deadline_fails_saying_why():
    clock = Clock()
    bounds = start_lane("big lane", 2_000_000_000, no_progress_s=120, min_mb_per_s=2.0, clock=clock)
    assert bounds.deadline_s == lane_deadline_s(2_000_000_000, 2.0) == 15 * 60 + 1000
    clock.now += bounds.deadline_s + 1
    with pytest.raises(LaneDeadlineExceeded, match=r"big lane ran past its deadline of 1900 s \(2000\.0 MB at 2 MB/s"):
        progress.wait_readable(7, "u", bounds, lambda r, w, x, t: (r, [], []))


def test_the_wait_never_runs_past_the_deadline():
    clock = Clock()
    bounds = start_lane("l", 0, no_progress_s=10_000, clock=clock)
    select_fn, calls = silent_socket(clock)
    with pytest.raises(LaneDeadlineExceeded):
        progress.wait_readable(7, "u", bounds, select_fn)
    assert clock.now - 1000.0 == pytest.approx(progress.LANE_FLOOR_S)


def test_defaults_apply_when_params_are_empty():
    b = start_lane("l", 0)
    assert (b.no_progress_s, b.min_mb_per_s) == (progress.NO_PROGRESS_S, progress.LANE_MIN_MB_PER_S)
