"""What an RDS status means for a wait: done, keep waiting, or failed for good (and what to do then).

Pure functions over describe responses, shared by the sensors' synchronous look and the trigger's
polling, so both end a wait on exactly the same states. botocore's waiters (behind the provider's
triggers) miss several of these (`migration-failed`, `inaccessible-encryption-credentials`,
`incompatible-network`, `storage-full`, `insufficient-capacity`) and would poll them until the timeout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# State -> what to do. A state listed here never turns into `available` without someone acting.
_RECREATE = "delete it and clear the task that creates it"
SNAPSHOT_FAILED = {
    "failed": f"RDS could not take or copy the snapshot: {_RECREATE}",
    "error": f"RDS reports an error on the snapshot: {_RECREATE}",
    "deleting": "someone is deleting the snapshot: clear the task that creates it once it is gone",
    "deleted": "the snapshot was deleted: clear the task that creates it",
    "incompatible-restore": f"the snapshot cannot be restored: {_RECREATE}",
}
CLUSTER_FAILED = {
    "failed": f"RDS could not create the cluster: {_RECREATE}",
    "migration-failed": "RDS could not migrate the snapshot into Aurora (see the cluster's events): delete the "
                        "cluster and clear restore_cluster, or migrate another snapshot",
    "cloning-failed": f"RDS could not create the cluster: {_RECREATE}",
    "inaccessible-encryption-credentials": "RDS cannot use the cluster's KMS key (disabled, deleted or no grant): "
                                           "enable the key or grant RDS access, then clear the task",
    "inaccessible-encryption-credentials-recoverable": "RDS cannot use the cluster's KMS key: enable the key or "
                                                       "grant RDS access, then clear the task",
    "incompatible-parameters": "the cluster parameter group does not suit this cluster: fix "
                               "db_cluster_parameter_group_name, delete the cluster and clear restore_cluster",
    "incompatible-restore": f"RDS could not restore the snapshot: {_RECREATE}",
    "incompatible-network": "the subnet group or security groups do not allow the cluster: fix them, then "
                            "delete the cluster and clear restore_cluster",
    "deleting": "someone is deleting the cluster: run the DAG again once it is gone",
    "deleted": "the cluster was deleted: run the DAG again",
    "stopped": "the cluster is stopped: start it (aws rds start-db-cluster), then clear the task",
    "stopping": "the cluster is being stopped: start it (aws rds start-db-cluster), then clear the task",
}
INSTANCE_FAILED = {
    "failed": f"RDS could not create the instance: {_RECREATE}",
    "incompatible-network": "the subnet group has no room for the instance (no free IP addresses, or the "
                            "subnets are gone): fix the subnet group, delete the instance and clear the task",
    "incompatible-parameters": "the instance parameter group does not suit it: fix db_parameter_group_name, "
                               "delete the instance and clear the task",
    "incompatible-option-group": f"the option group does not suit the instance: {_RECREATE}",
    "incompatible-restore": f"RDS could not restore the instance: {_RECREATE}",
    "incompatible-credentials": f"RDS cannot use the instance's credentials: {_RECREATE}",
    "insufficient-capacity": "AWS has no capacity for this instance class in that Availability Zone: choose another "
                             "db_instance_class or availability_zone, delete the instance and clear the task",
    "storage-full": "the instance ran out of storage: contact AWS support or scale the cluster, then clear the task",
    "inaccessible-encryption-credentials": "RDS cannot use the KMS key: enable the key or grant RDS access, then "
                                           "clear the task",
    "inaccessible-encryption-credentials-recoverable": "RDS cannot use the KMS key: enable the key or grant RDS "
                                                       "access, then clear the task",
    "restore-error": f"RDS could not restore the instance: {_RECREATE}",
    "deleting": "someone is deleting the instance: clear the task that creates it once it is gone",
    "stopped": "the instance is stopped: start it, then clear the task",
    "stopping": "the instance is being stopped: start it, then clear the task",
}


@dataclass
class Verdict:
    """One look at what a wait waits for."""
    done: bool = False
    failed: str = ""               # set when it can never finish on its own: names the state and what to do
    progress: str = ""             # for the log: current states
    details: dict[str, Any] = field(default_factory=dict)


def _status(resource: dict[str, Any], key: str) -> str:
    return str(resource.get(key, "")).lower()


def snapshot_verdict(snapshot: dict[str, Any] | None, what: str, identifier: str, region: str) -> Verdict:
    if snapshot is None:
        return Verdict(failed=f"{what} {identifier} does not exist in {region}: clear the task that creates it")
    status = _status(snapshot, "Status")
    progress = f"{what} {identifier}: {status} ({snapshot.get('PercentProgress', '?')}%)"
    if status in SNAPSHOT_FAILED:
        return Verdict(failed=f"{what} {identifier} in {region} is {status!r} and will not become available: "
                              f"{SNAPSHOT_FAILED[status]}",
                       progress=progress)
    return Verdict(done=status == "available", progress=progress)


def cluster_verdict(cluster: dict[str, Any] | None, instances: list[dict[str, Any]], instance_ids: list[str],
                    identifier: str, region: str) -> Verdict:
    """The cluster and each of `instance_ids` in it available; any member in a terminal state fails it."""
    if cluster is None:
        return Verdict(failed=f"DB cluster {identifier} does not exist in {region}: clear restore_cluster")
    status = _status(cluster, "Status")
    by_id = {i["DBInstanceIdentifier"].lower(): _status(i, "DBInstanceStatus") for i in instances}
    missing = [i for i in instance_ids if i.lower() not in by_id]
    progress = f"cluster {identifier}: {status}; instances: {by_id or 'none'}" + (
        f"; not yet listed: {missing}" if missing else "")
    if status in CLUSTER_FAILED:
        return Verdict(failed=f"DB cluster {identifier} in {region} is {status!r} and will not become available: "
                              f"{CLUSTER_FAILED[status]}",
                       progress=progress)
    if status == "available" and missing:
        return Verdict(failed=f"DB cluster {identifier} is available but has no instance {missing}: clear the task "
                              "that creates it", progress=progress)
    failed = {i: s for i, s in by_id.items() if s in INSTANCE_FAILED}
    if failed:
        return Verdict(failed="; ".join(f"DB instance {i} of cluster {identifier} is {s!r} and will not become "
                                        f"available: {INSTANCE_FAILED[s]}"
                                        for i, s in sorted(failed.items())), progress=progress)
    done = status == "available" and not missing and all(by_id.get(i.lower()) == "available" for i in instance_ids)
    return Verdict(done=done, progress=progress, details={"missing": missing})
