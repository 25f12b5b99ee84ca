"""One worker pool for independent database jobs: longest first, over a fixed number of sessions.

Index builds, foreign key checks and checksum queries are each a list of independent jobs of known
(estimated) cost. Dealing them longest first to whichever session is free makes the sessions finish at
about the same time (longest-processing-time-first scheduling); each worker opens its own session once
and keeps it for every job it takes.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import TypeVar

Job = TypeVar("Job")
Session = TypeVar("Session")
Result = TypeVar("Result")


def longest_first(jobs: Sequence[Job], cost: Callable[[Job], float] | None) -> list[Job]:
    """The order the pool takes jobs in: highest cost first; equal costs (or no cost) keep their order."""
    if cost is None:
        return list(jobs)
    return sorted(jobs, key=lambda j: -cost(j))


def run_longest_first(jobs: Sequence[Job], workers: int, open_session: Callable[[], AbstractContextManager[Session]],
                      work: Callable[[Session, Job], Result], cost: Callable[[Job], float] | None = None) -> list[Result]:
    """Run `work(session, job)` for every job over at most `workers` sessions; results in the jobs' order.

    A job that raises stops its worker's session and is raised here after the other workers drained the
    queue (report failures a caller wants to collect as results instead)."""
    if not jobs:
        return []
    order = longest_first(list(enumerate(jobs)), (lambda ij: cost(ij[1])) if cost else None)
    results: dict[int, Result] = {}
    lock = threading.Lock()

    def take():
        with lock:
            return order.pop(0) if order else None

    def worker():
        with open_session() as session:
            while (item := take()) is not None:
                i, job = item
                results[i] = work(session, job)

    count = max(1, min(workers, len(jobs)))
    with ThreadPoolExecutor(count, thread_name_prefix="pgferry-pool") as pool:
        for f in [pool.submit(worker) for _ in range(count)]:
            f.result()
    return [results[i] for i in range(len(jobs))]
