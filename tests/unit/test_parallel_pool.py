"""One worker pool (pg/parallel.run_longest_first): longest job first, each worker on its own session."""
import threading
from contextlib import contextmanager

import pytest

from include.pgferry.pg.parallel import longest_first, run_longest_first


def test_jobs_are_taken_longest_first_and_equal_costs_keep_their_order():
    jobs = [("a", 1), ("b", 5), ("c", 3), ("d", 5)]
    assert [j[0] for j in longest_first(jobs, cost=lambda j: j[1])] == ["b", "d", "c", "a"]


def test_one_worker_runs_them_in_that_order_and_results_come_back_in_the_jobs_order():
    taken = []

    @contextmanager
    def session():
        yield "conn"

    def work(conn, job):
        taken.append(job)
        return job * 10

    assert run_longest_first([1, 3, 2], 1, session, work, cost=lambda j: j) == [10, 30, 20]
    assert taken == [3, 2, 1]


def test_each_worker_opens_one_session_and_keeps_it():
    opened = []
    lock = threading.Lock()
    barrier = threading.Barrier(3)

    @contextmanager
    def session():
        with lock:
            opened.append(threading.get_ident())
        barrier.wait(timeout=10)   # all three sessions are open at once: three workers really run
        yield len(opened)

    results = run_longest_first(list(range(12)), 3, session, lambda s, j: j)
    assert results == list(range(12))
    assert len(opened) == 3


def test_never_more_sessions_than_jobs():
    opened = []

    @contextmanager
    def session():
        opened.append(1)
        yield None

    run_longest_first([1, 2], 8, session, lambda s, j: j)
    assert len(opened) == 2
    assert run_longest_first([], 8, session, lambda s, j: j) == []


def test_a_failing_job_is_raised_after_the_rest_ran():
    done = []

    @contextmanager
    def session():
        yield None

    def work(_, job):
        if job == "bad":
            raise ValueError("bad job")
        done.append(job)

    with pytest.raises(ValueError, match="bad job"):
        run_longest_first(["bad", "x", "y"], 2, session, work)
    assert sorted(done) == ["x", "y"]
