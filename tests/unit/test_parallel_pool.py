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


# -- jobs that wait for other jobs (post-data statements: pg_dump's dependency graph) ---------------
# a synthetic graph shaped like post-data: two keys, a materialized view needing one of them, an index and
# a comment on the view, a view body needing both keys, and independent index builds
GRAPH = {
    "pkey_a": [], "pkey_b": [], "index_1": [], "index_2": [],
    "matview": ["pkey_a"], "matview_index": ["matview"], "matview_owner": ["matview"],
    "view_body": ["pkey_a", "pkey_b"], "last": ["matview_index", "view_body"],
}
NAMES = list(GRAPH)
AFTER = [[NAMES.index(d) for d in GRAPH[name]] for name in NAMES]
# the dependents cost most: a pool that ignored `after` would deal them first
COST = {"last": 9, "matview_index": 8, "view_body": 7, "matview_owner": 6, "matview": 5}.get


@contextmanager
def no_session():
    yield None


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_job_never_starts_before_the_jobs_it_waits_for_have_finished(workers):
    events, lock = [], threading.Lock()

    def work(_, job):
        with lock:
            events.append(("start", job))
        with lock:
            events.append(("end", job))
        return job

    assert run_longest_first(NAMES, workers, no_session, work, cost=lambda j: COST(j, 0), after=AFTER) == NAMES
    for name, deps in GRAPH.items():
        for d in deps:
            assert events.index(("end", d)) < events.index(("start", name)), (d, name, events)
    if workers == 1:   # among the jobs ready, still the longest first
        assert [j for what, j in events if what == "start"] == [
            "pkey_a", "matview", "matview_index", "matview_owner", "pkey_b", "view_body", "last", "index_1",
            "index_2"]


def test_a_failed_job_keeps_its_dependents_from_running_and_they_name_it():
    ran = []

    def work(_, job):
        ran.append(job)
        return "failed" if job == "pkey_a" else "ok"

    results = run_longest_first(NAMES, 2, no_session, work, after=AFTER, failed=lambda r: r == "failed",
                                not_run=lambda job, waited: f"not run: waited for {', '.join(waited)}")
    outcome = dict(zip(NAMES, results))
    assert outcome["pkey_a"] == "failed"
    # directly or through a job that did not run itself: the failure named is the one that happened
    for name in ("matview", "matview_index", "matview_owner", "view_body", "last"):
        assert outcome[name] == "not run: waited for pkey_a", name
    assert sorted(ran) == ["index_1", "index_2", "pkey_a", "pkey_b"]


def test_a_job_that_raises_keeps_its_dependents_from_running_and_is_raised():
    ran = []

    def work(_, job):
        if job == "matview":
            raise ValueError("matview failed")
        ran.append(job)

    with pytest.raises(ValueError, match="matview failed"):
        run_longest_first(NAMES, 2, no_session, work, after=AFTER)
    assert "matview_index" not in ran and "matview_owner" not in ran and "last" not in ran
    assert {"pkey_a", "pkey_b", "view_body", "index_1", "index_2"} <= set(ran)


def test_jobs_waiting_in_a_cycle_are_reported_not_run_and_the_rest_runs():
    results = run_longest_first(["a", "b", "c"], 2, no_session, lambda _, j: f"ran {j}", after=[[1], [0], []],
                                not_run=lambda job, waited: f"{job} waits for {waited}")
    assert results == ["a waits for ['b']", "b waits for ['a']", "ran c"]
