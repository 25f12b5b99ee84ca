"""Bounds on a copy lane that waits: no bytes from the source for too long, or a lane past its deadline.

A flow that a NAT or firewall drops keeps its sockets open; a lane that only reads (COPY TO STDOUT from the
source) has nothing unacknowledged for `tcp_user_timeout` to notice, and keepalives are answered by
whatever middlebox still holds the flow. So the lane bounds its own waits: `wait_readable` gives up after
`no_progress_s` without a byte, and the lane as a whole gets a deadline derived from its bytes at a
pessimistic rate, with a floor (Airflow cannot give each mapped lane its own execution_timeout).

The bounds are per task process: `start_lane` (called by the copy_lane task) sets them, `copy_out_blocks`
waits through `wait_readable`.
"""
from __future__ import annotations

import select
import time
from dataclasses import dataclass
from typing import Callable

NO_PROGRESS_S = 120            # Param no_progress_timeout_s
LANE_MIN_MB_PER_S = 1.0        # Param lane_min_mb_per_s: the rate below which a lane is called stuck
LANE_FLOOR_S = 15 * 60         # every lane gets at least this long (connects, index builds, small tables)


class LaneBoundExceeded(RuntimeError):
    """A lane's own bound ended it; the retry starts the lane over."""


class NoProgress(LaneBoundExceeded):
    """The source sent nothing for the bound: the flow is most likely dropped; a retry reconnects."""


class LaneDeadlineExceeded(LaneBoundExceeded):
    """The lane ran longer than its bytes at the pessimistic rate allow."""


@dataclass
class LaneBounds:
    label: str = "a copy lane"
    no_progress_s: float = NO_PROGRESS_S
    deadline: float | None = None       # on `clock`
    deadline_s: float | None = None
    lane_bytes: int = 0
    min_mb_per_s: float = LANE_MIN_MB_PER_S
    clock: Callable[[], float] = time.monotonic
    taken: int = 0                      # bytes of the units the lane took so far


_bounds = LaneBounds()


def lane_deadline_s(lane_bytes: int, min_mb_per_s: float = LANE_MIN_MB_PER_S, floor_s: float = LANE_FLOOR_S) -> float:
    """How long a lane of `lane_bytes` may take: its bytes at the pessimistic rate, plus the floor."""
    return floor_s + lane_bytes / (min_mb_per_s * 1e6)


def start_lane(label: str, lane_bytes: int, no_progress_s: float | None = None, min_mb_per_s: float | None = None,
               clock: Callable[[], float] = time.monotonic) -> LaneBounds:
    """Set this process's bounds for the lane that starts now."""
    global _bounds
    rate = float(min_mb_per_s or LANE_MIN_MB_PER_S)
    limit = lane_deadline_s(lane_bytes, rate)
    _bounds = LaneBounds(label=label, no_progress_s=float(no_progress_s or NO_PROGRESS_S), deadline=clock() + limit,
                         deadline_s=limit, lane_bytes=lane_bytes, min_mb_per_s=rate, clock=clock)
    return _bounds


def take(unit_bytes: int, bounds: LaneBounds | None = None):
    """The lane took a unit. A lane takes units until none is left, any lane's share (logical/claims.py), so its
    bytes are not known when it starts: the deadline, set from its share, grows by the bytes it takes beyond
    it, at the same pessimistic rate."""
    b = bounds or _bounds
    b.taken += unit_bytes
    if b.taken > b.lane_bytes:
        extra = (b.taken - b.lane_bytes) / (b.min_mb_per_s * 1e6)
        b.lane_bytes = b.taken
        if b.deadline is not None:
            b.deadline += extra
            b.deadline_s += extra


def current() -> LaneBounds:
    return _bounds


def check_deadline(bounds: LaneBounds | None = None):
    b = bounds or _bounds
    if b.deadline is not None and b.clock() >= b.deadline:
        raise LaneDeadlineExceeded(
            f"{b.label} ran past its deadline of {b.deadline_s:.0f} s ({b.lane_bytes / 1e6:.1f} MB at "
            f"{b.min_mb_per_s:g} MB/s plus {LANE_FLOOR_S // 60} min): the lane is stopped so that its retry starts "
            f"over; lower Param lane_min_mb_per_s if this network is really that slow")


def wait_readable(sock: int, what: str | None = None, bounds: LaneBounds | None = None,
                  select_fn=select.select) -> None:
    """Wait until `sock` has data, at most the no-progress bound (and never past the lane's deadline)."""
    b = bounds or _bounds
    waited = 0.0
    while True:
        check_deadline(b)
        left = b.no_progress_s - waited
        if left <= 0:
            raise NoProgress(f"no bytes from the source for {b.no_progress_s:.0f} s while copying "
                             f"{what or b.label}: the network path to the source most likely dropped the "
                             f"flow (Param no_progress_timeout_s sets this bound); the retry reconnects")
        step = min(left, 5.0)       # look at the deadline now and then even while data trickles in
        if b.deadline is not None:
            step = max(0.0, min(step, b.deadline - b.clock()))
        t0 = b.clock()
        readable, _, _ = select_fn([sock], [], [], step)
        if readable:
            return
        waited += max(b.clock() - t0, step)
