"""The window guard as precheck findings: runs inside precheck, before anything is written.

Only DAGs with a `window` Param (the scheduled ones) are guarded; `ignore_window` overrides.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from include.pgferry.checks.findings import ERROR, WARNING, Finding
from include.pgferry.schedule import throughput
from include.pgferry.schedule.window import Window, check, human

log = logging.getLogger("pgferry")
CHECK = "window"


def utc_now() -> datetime:
    """The clock precheck reads when no `now` is given (tests pass `now` or freeze this clock)."""
    return datetime.now(timezone.utc)


def _window(params: dict) -> Window | None:
    w = params.get("window")
    return Window.from_dict(w) if w else None


def _findings(verdict) -> list[Finding]:
    if verdict.ok:
        log.info("window: %s", verdict.message)
        return [Finding(WARNING, CHECK, verdict.message)] if verdict.reason == "overridden" else []
    return [Finding(ERROR, CHECK, verdict.message)]


def start_findings(params: dict, now: datetime | None = None) -> list[Finding]:
    """Refuse a run that starts outside its window: checked first, before connecting anywhere."""
    window = _window(params)
    if window is None:
        return []
    return _findings(check(window, now or utc_now(), None, bool(params.get("ignore_window"))))


def fit_findings(params: dict, source_bytes: int | Callable[[], int], now: datetime | None = None,
                 mb_per_s: float | None = None) -> list[Finding]:
    """Refuse a run whose estimated load would not fit in what is left of the window.

    `source_bytes` may be a function: it is only asked (a query on the source) when there is a window."""
    window = _window(params)
    if window is None:
        return []
    if callable(source_bytes):
        source_bytes = source_bytes()
    rate = mb_per_s if mb_per_s is not None else throughput.read_variable()
    estimate = throughput.estimate(source_bytes, rate)
    log.info("window: %.1f MB at %s MB/s (%s) -> about %s", source_bytes / 1e6, rate or throughput.DEFAULT_MB_S,
             "measured by an earlier run" if rate else "default, no run measured yet", human(estimate))
    verdict = check(window, now or utc_now(), estimate, bool(params.get("ignore_window")))
    if verdict.overrode == "outside the window":
        return []        # start_findings already reported that override
    return _findings(verdict)
