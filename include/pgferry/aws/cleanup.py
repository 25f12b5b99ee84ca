"""Task `clean_up_snapshots` of the snapshot DAG: the optional clean-up after the cluster is available: the snapshot and the copy pgferry made.

Only snapshots that carry pgferry's MADE_TAG and are of this migration's source are deleted: a
snapshot the user gave (snapshot_identifier) is never deleted, nor one that is not there any more.
The cluster does not need its snapshot once restored.
"""
from __future__ import annotations

import logging
from typing import Any

from include.pgferry.aws.hooks import MADE_TAG, SNAPSHOT_NOT_FOUND, error_code, find_snapshot, is_ours, rds_hook, tag_map

log = logging.getLogger(__name__)


def deletable(snapshot: dict[str, Any] | None, source_arn: str) -> bool:
    return snapshot is not None and tag_map(snapshot).get(MADE_TAG) == "pgferry" and is_ours(snapshot, source_arn)


def delete_made_snapshots(plan: dict[str, Any]) -> dict[str, Any]:
    """{"deleted": [...], "kept": [...]}: each as "NAME in REGION (why)"."""
    candidates = []
    if plan["snapshot_needed"] and not plan["snapshot_given"]:
        candidates.append((plan["source_region"], plan["source_snapshot_identifier"], "the snapshot pgferry took"))
    elif plan["snapshot_given"]:
        log.info("snapshot %s was given: kept", plan["source_snapshot_identifier"])
    if plan["copy_needed"] and plan["snapshot_needed"]:
        candidates.append((plan["target_region"], plan["target_snapshot_identifier"], "the copy pgferry made"))
    deleted, kept = [], []
    for region, name, what in candidates:
        conn = rds_hook(plan["aws_conn_id"], region).conn
        snapshot = find_snapshot(conn, name)
        if not deletable(snapshot, plan["source_db_instance_arn"]):
            kept.append(f"{name} in {region} ({'gone' if snapshot is None else 'not made by pgferry'})")
            continue
        try:
            conn.delete_db_snapshot(DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])
        except Exception as exc:
            if error_code(exc) not in SNAPSHOT_NOT_FOUND:
                raise
        log.info("deleted %s: %s in %s", what, name, region)
        deleted.append(f"{name} in {region} ({what})")
    if plan["snapshot_given"]:
        kept.append(f"{plan['source_snapshot_identifier']} in {plan['source_region']} (given)")
    return {"deleted": deleted, "kept": kept}


def clean_up_snapshots(plan: dict[str, Any]) -> dict[str, Any]:
    """With delete_snapshots_when_done: delete the snapshot and the copy pgferry made (tag pgferry:made-by),
    never one the user gave; otherwise keep them all."""
    if not plan["delete_snapshots_when_done"]:
        log.info("delete_snapshots_when_done is off: snapshots kept")
        return {"deleted": [], "kept": []}
    return delete_made_snapshots(plan)
