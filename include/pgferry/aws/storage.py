"""The seed's step 1: the space the source uses against what an Aurora cluster volume can hold."""
from __future__ import annotations

# The seed's figure. Newer Aurora PostgreSQL versions allow 128 TiB, no version allows less, so
# 64 TiB is the limit that holds whatever version the restore ends up on.
AURORA_MAX_VOLUME_GIB = 64 * 1024
WARN_FRACTION = 0.8


def storage_findings(allocated_gib: int | None, what: str) -> tuple[list[str], list[str]]:
    """(problems, notes) for a source whose storage is `allocated_gib` GiB.

    RDS reports allocated, not used, storage; the used part is at most that, so a source that fits
    by allocation fits by use. Aurora volumes grow by themselves: nothing is provisioned up front.
    """
    if allocated_gib is None:
        return [], [f"{what}: allocated storage unknown; Aurora holds up to {AURORA_MAX_VOLUME_GIB} GiB"]
    if allocated_gib > AURORA_MAX_VOLUME_GIB:
        return [f"{what} has {allocated_gib} GiB allocated, more than the {AURORA_MAX_VOLUME_GIB} GiB an Aurora "
                "cluster volume holds: reduce the data (or check the space actually used) before migrating"], []
    notes = [f"{what} has {allocated_gib} GiB allocated; the Aurora volume grows as needed up to "
             f"{AURORA_MAX_VOLUME_GIB} GiB, nothing to provision"]
    if allocated_gib > WARN_FRACTION * AURORA_MAX_VOLUME_GIB:
        notes.append(f"{what} uses over {int(WARN_FRACTION * 100)}% of the Aurora volume limit: little room to grow")
    return [], notes


def wait_budget_hours(allocated_gib: int | None, *, min_wait_hours: float, wait_hours_per_tib: float,
                      max_wait_hours: float) -> float:
    """How long one wait (snapshot, copy, restore) may take: `min_wait_hours` plus `wait_hours_per_tib`
    for each TiB of the source (AWS quotes snapshot, copy and migration times in hours per terabyte),
    never more than `max_wait_hours`. Unknown size: the maximum."""
    if allocated_gib is None:
        return float(max_wait_hours)
    return min(float(max_wait_hours), float(min_wait_hours) + float(wait_hours_per_tib) * allocated_gib / 1024)


def wait_attempts(hours: float, poll_interval_seconds: int) -> int:
    return max(1, int(hours * 3600 // max(1, int(poll_interval_seconds))))
