"""One worker pool for database jobs: longest first, over a fixed number of sessions, each job after
the jobs it depends on.

Index builds, foreign key checks and checksum queries are each a list of jobs of known (estimated)
cost. Dealing them longest first to whichever session is free makes the sessions finish at about the
same time (longest-processing-time-first scheduling); each worker opens its own session once and keeps
it for every job it takes.

Post-data statements are not all independent (an index on a materialized view needs the view, which
needs a primary key): a job may name the jobs it waits for, and is dealt only once they have all
finished. One that failed keeps its dependents from running: they are reported as not run, with the
failed jobs they waited for.
"""
from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Collection, Sequence
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
                      work: Callable[[Session, Job], Result], cost: Callable[[Job], float] | None = None,
                      after: Sequence[Collection[int]] | None = None, failed: Callable[[Result], bool] | None = None,
                      not_run: Callable[[Job, list[Job]], Result] | None = None) -> list[Result]:
    """Run `work(session, job)` for every job over at most `workers` sessions; results in the jobs' order.

    `after[i]`: the positions (in `jobs`) of the jobs job i waits for; it is dealt only once they all
    finished. If one of them failed (raised, or `failed(result)`), job i does not run: its result is
    `not_run(job, the failed jobs it waited for, directly or through other jobs not run)`. Jobs that wait
    in a cycle never run either, and are reported the same way, with the jobs of the cycle they wait for.

    A job that raises stops its worker's session and is raised here after the other workers drained the
    queue (report failures a caller wants to collect as results instead)."""
    if not jobs:
        return []
    n = len(jobs)
    waits = [set(after[i]) - {i} if after else set() for i in range(n)]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for i, w in enumerate(waits):
        for p in w:
            dependents[p].append(i)
    rank = {i: k for k, (i, _) in enumerate(longest_first(list(enumerate(jobs)), (lambda ij: cost(ij[1])) if cost else None))}
    missing = [len(w) for w in waits]
    ready = [(rank[i], i) for i in range(n) if not waits[i]]
    heapq.heapify(ready)
    results: dict[int, Result] = {}
    blocked_by: dict[int, set[int]] = {}   # a job not run -> the failed jobs it waited for
    cond = threading.Condition()
    running = 0

    def finished(i: int, ok: bool):
        """Under `cond`: release i's dependents; a failed or not-run i passes its failures on."""
        stack = [(i, ok)]
        while stack:
            j, ok = stack.pop()
            causes = None if ok else blocked_by.get(j, {j})
            for d in dependents[j]:
                if causes:
                    blocked_by.setdefault(d, set()).update(causes)
                missing[d] -= 1
                if missing[d]:
                    continue
                if d in blocked_by:
                    results[d] = not_run(jobs[d], [jobs[k] for k in sorted(blocked_by[d])]) if not_run else None
                    stack.append((d, False))
                else:
                    heapq.heappush(ready, (rank[d], d))

    def worker():
        nonlocal running
        with open_session() as session:
            while True:
                with cond:
                    while not ready and running:
                        cond.wait()
                    if not ready:
                        return
                    _, i = heapq.heappop(ready)
                    running += 1
                ok = False
                try:
                    results[i] = work(session, jobs[i])
                    ok = not (failed and failed(results[i]))
                finally:
                    with cond:
                        running -= 1
                        finished(i, ok)
                        cond.notify_all()

    count = max(1, min(workers, n))
    with ThreadPoolExecutor(count, thread_name_prefix="pgferry-pool") as pool:
        for f in [pool.submit(worker) for _ in range(count)]:
            f.result()
    never = {i for i in range(n) if i not in results}   # waited in a cycle: never dealt
    for i in never:
        results[i] = not_run(jobs[i], [jobs[k] for k in sorted(waits[i] & never)]) if not_run else None
    return [results[i] for i in range(n)]
