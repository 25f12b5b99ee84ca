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
