"""The snapshot DAG's two short-circuits, on what precheck decided: a rerun that finds its cluster takes no
new snapshot and makes no copy; a restore into the source's own Region needs no copy."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def snapshot_needed(needed: bool) -> bool:
    """False when this migration's cluster exists already: skips the snapshot and the copy."""
    if not needed:
        log.info("the cluster exists already (an earlier run): no new snapshot, no copy")
    return bool(needed)


def copy_needed(needed: bool) -> bool:
    """True when the cluster goes to another Region; False skips the copy and its sensor."""
    return bool(needed)
