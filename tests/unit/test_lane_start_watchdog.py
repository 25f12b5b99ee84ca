"""The watchdog of a run's copy lanes (checks/airflow): a missing pool is an error in the run, never a silent wait."""
import pytest

from include.pgferry.checks.airflow import STARTED, LanesCannotStart, lanes_started


def lanes_in(state):
    return lambda states: 4 if state in states else 0


def test_lanes_scheduled_for_the_bound_fail_naming_the_pool_and_the_command():
    assert lanes_started(lanes_in("scheduled"), 4, waited_s=59, bound_s=60) is False
    with pytest.raises(LanesCannotStart) as raised:
        lanes_started(lanes_in("scheduled"), 4, waited_s=60, bound_s=60)
    msg = str(raised.value)
    assert "none of the 4 copy lane(s) of this run started within 60 s" in msg
    assert "pool 'pgferry_copy' does not exist or has no free slot" in msg
    assert 'airflow pools set pgferry_copy 4 "' in msg


@pytest.mark.parametrize("state", ["queued", "running", "success", "up_for_retry", "upstream_failed"])
def test_a_lane_that_got_a_slot_ends_the_watch(state):
    assert state in STARTED
    assert lanes_started(lanes_in(state), 4, waited_s=10_000, bound_s=60) is True


def test_lanes_not_ready_yet_do_not_fail_it():
    assert lanes_started(lanes_in(None), 4, waited_s=10_000, bound_s=60) is False
