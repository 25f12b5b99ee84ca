"""A low-traffic window (cron start, time zone, length) and the guard precheck runs before anything is written.

Pure functions of their arguments (no Airflow, no database), so the rule is tested on its own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

_LENGTH = re.compile(r"^\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m(?:in)?)?\s*$")


def parse_length(text: str | int) -> timedelta:
    """'3h', '90m', '1h30m' or a number of minutes."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a length")
    if isinstance(text, int):
        minutes = text
    else:
        m = _LENGTH.match(str(text))
        if not m or not (m["h"] or m["m"]):
            raise ValueError(f"{text!r} is not a length: write e.g. 3h, 90m or 1h30m")
        minutes = int(m["h"] or 0) * 60 + int(m["m"] or 0)
    if minutes <= 0:
        raise ValueError(f"{text!r}: the window must last at least one minute")
    if minutes > 24 * 60:
        raise ValueError(f"{text!r}: a window longer than 24h is no window")
    return timedelta(minutes=minutes)


def validate_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)") from e


def validate_cron(cron: str) -> None:
    if not croniter.is_valid(cron):
        raise ValueError(f"{cron!r} is not a cron expression (minute hour day-of-month month day-of-week)")


def human(td: timedelta) -> str:
    minutes = int(round(td.total_seconds() / 60))
    h, m = divmod(minutes, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m"


@dataclass(frozen=True)
class Window:
    cron: str            # when the window opens, in `timezone`
    timezone: str        # IANA name, e.g. Asia/Shanghai
    length: timedelta

    def __post_init__(self):
        validate_timezone(self.timezone)
        validate_cron(self.cron)

    @classmethod
    def from_dict(cls, d: dict) -> "Window":
        length = d.get("length") if d.get("length") is not None else d.get("length_minutes")
        return cls(cron=str(d["cron"]), timezone=str(d["timezone"]), length=parse_length(length))

    def as_param(self) -> dict:
        """The form the scheduled DAG's `window` Param holds (JSON: no timedelta)."""
        return {"cron": self.cron, "timezone": self.timezone, "length_minutes": int(self.length.total_seconds() // 60)}

    def describe(self) -> str:
        return f"'{self.cron}' {self.timezone}, {human(self.length)} long"

    def opening_at_or_before(self, moment: datetime) -> datetime:
        """The latest window opening not after `moment` (aware), in the window's time zone."""
        # cron has minute resolution: from the moment's own minute, so 02:29:59.5 is not yet a 02:30 opening
        minute = moment.astimezone(ZoneInfo(self.timezone)).replace(second=0, microsecond=0)
        return croniter(self.cron, minute + timedelta(seconds=1)).get_prev(datetime)

    def next_opening(self, moment: datetime) -> datetime:
        return croniter(self.cron, moment.astimezone(ZoneInfo(self.timezone))).get_next(datetime)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str          # "fits", "outside the window", "would not fit", "overridden", "no window"
    message: str
    overrode: str = ""   # for "overridden": the refusal ignore_window set aside


def check(window: Window | None, now: datetime, estimate: timedelta | None, ignore_window: bool = False) -> Verdict:
    """May a run that starts loading at `now`, for about `estimate`, go ahead in `window`?

    `estimate` None checks only that `now` is inside the window (precheck does that before it connects)."""
    if window is None:
        return Verdict(True, "no window", "no window declared: the run may start any time")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = ZoneInfo(window.timezone)
    opened = window.opening_at_or_before(now)
    closes = opened + window.length
    local_now = now.astimezone(tz)
    fmt = "%Y-%m-%d %H:%M %Z"
    if local_now >= closes:
        verdict = Verdict(False, "outside the window",
                          f"started outside the window: it is {local_now.strftime(fmt)}, the window "
                          f"({window.describe()}) last closed at {closes.strftime(fmt)} and opens next at "
                          f"{window.next_opening(now).strftime(fmt)}")
    elif estimate is not None and local_now + estimate > closes:
        left = closes - local_now
        verdict = Verdict(False, "would not fit",
                          f"would not fit in the window: the load is estimated at {human(estimate)} but only "
                          f"{human(left)} of the window ({window.describe()}) remain (it closes at "
                          f"{closes.strftime(fmt)})")
    else:
        left = closes - local_now
        return Verdict(True, "fits", f"inside the window ({window.describe()}): {human(left)} left"
                       + (f", load estimated at {human(estimate)}" if estimate is not None else ""))
    if ignore_window:
        return Verdict(True, "overridden", f"ignore_window is set, going ahead although it {verdict.message}",
                       overrode=verdict.reason)
    return verdict
