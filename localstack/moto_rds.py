"""moto's RDS, extended where it falls short of what the snapshot-to-Aurora DAG needs.

Part of the local stack (localstack/), shared by the tests and `make demo`; not product code, which
never imports it. This is the brief's "extend moto in test support code": the local stack package is
where test support that `make demo` also needs lives. `install()` patches moto in this process;
`python -m localstack.moto_rds --port N` starts a patched moto server (the local stack and the
test fixture run it that way, in its own process group, so it is stopped with one killpg).
Every gap patched here is listed in docs/testing.md, "moto gaps, filled in test support".

Gaps filled:
1. RestoreDBClusterFromSnapshot from an RDS *instance* snapshot (moto only knows cluster
   snapshots and answers DBClusterSnapshotNotFoundFault).
2. DescribeDBEngineVersions (not implemented at all): a small catalog; the Aurora PostgreSQL
   versions are the ones moto's own orderable-instance data lists, so both calls agree.
3. Snapshots that take time or fail: moto makes every snapshot `available` at once. Tags script
   them instead (see SNAPSHOT_* below); cross-region copies also carry SourceRegion and
   SourceDBSnapshotIdentifier as real copies do.
4. Clusters and instances that take time or end in a failure state (`migration-failed`,
   `storage-full`, ...): tags on the restore / create request script them (CLUSTER_*, INSTANCE_*).
5. Automated (`rds:`) snapshots: RDS finds them by identifier only with SnapshotType="automated";
   moto finds them without it. Patched to answer DBSnapshotNotFound as RDS does.
6. Quota errors on CopyDBSnapshot: a tag on the source DB instance (COPY_QUOTA_TAG) makes the first
   N copies of its snapshots fail with SnapshotQuotaExceeded, so the back-off can be tested.
7. RestoreDBClusterFromSnapshot from an instance snapshot keeps the production settings (deletion
   protection, parameter group, IAM auth, log exports, storage type, backup retention, Serverless v2).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

# A snapshot's status is scripted by tags, on the snapshot itself or, for CreateDBSnapshot, on
# the DB instance it is taken from (the DAG tags its own snapshots, so a test marks the source
# instance instead). PENDING: how many describes show `creating` (for copies: `copying`) before
# the final status. FINAL: the status after that (default `available`; `failed` for the
# fail-fast sensor test).
SNAPSHOT_PENDING_TAG = "moto-test:snapshot-pending-describes"
SNAPSHOT_FINAL_TAG = "moto-test:snapshot-final-status"
# Same, for copies made by CopyDBSnapshot: read from the copy's own tags or the source DB
# instance's, under their own keys, so a copy of a snapshot of a "failing" instance does not fail too.
COPY_PENDING_TAG = "moto-test:copy-pending-describes"
COPY_FINAL_TAG = "moto-test:copy-final-status"
# CopyDBSnapshot of a snapshot of an instance tagged so answers SnapshotQuotaExceeded this many times first.
COPY_QUOTA_TAG = "moto-test:copy-quota-errors"
# On RestoreDBClusterFromSnapshot / CreateDBInstance requests: describes in `creating`, then this status.
CLUSTER_PENDING_TAG = "moto-test:cluster-pending-describes"
CLUSTER_FINAL_TAG = "moto-test:cluster-final-status"
INSTANCE_PENDING_TAG = "moto-test:instance-pending-describes"
INSTANCE_FINAL_TAG = "moto-test:instance-final-status"

POSTGRES_VERSIONS = ["9.5.25", "9.6.1", "9.6.12", "9.6.24", "10.21", "11.9", "11.19", "12.8", "12.14",
                     "13.4", "13.7", "13.10", "14.3", "14.7", "15.2"]

_installed = False


def _tags_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _script_status(snapshot: Any, tags: dict[str, str], pending_key: str, final_key: str,
                   pending_status: str) -> None:
    snapshot._moto_test_pending = int(tags.get(pending_key, "0"))
    snapshot._moto_test_pending_status = pending_status
    if final_key in tags:
        snapshot._moto_test_final = tags[final_key]


def _patch_snapshot_status(models: Any, exceptions: Any) -> None:
    snapshot_cls = models.DBSnapshot

    def get_status(self: Any) -> str:
        # Each read is one describe's worth of progress (moto reads it once per serialisation).
        pending = getattr(self, "_moto_test_pending", 0)
        if pending > 0:
            self._moto_test_pending = pending - 1
            return getattr(self, "_moto_test_pending_status", "creating")
        return getattr(self, "_moto_test_final", "available")

    def set_status(self: Any, value: str) -> None:
        self._moto_test_final = value

    snapshot_cls.status = property(get_status, set_status)

    backend_cls = models.RDSBackend
    original_create = backend_cls.create_db_snapshot
    original_copy = backend_cls.copy_db_snapshot

    def create_db_snapshot(self: Any, db_instance_identifier: str, db_snapshot_identifier: str,
                           *args: Any, **kwargs: Any) -> Any:
        snapshot = original_create(self, db_instance_identifier, db_snapshot_identifier, *args, **kwargs)
        tags = {**_tags_dict(snapshot.database.tags), **_tags_dict(snapshot.tags)}
        _script_status(snapshot, tags, SNAPSHOT_PENDING_TAG, SNAPSHOT_FINAL_TAG, "creating")
        return snapshot

    def copy_db_snapshot(self: Any, source_db_snapshot_identifier: str, target_db_snapshot_identifier: str,
                         *args: Any, **kwargs: Any) -> Any:
        source_instance = getattr(self.get_db_snapshot(source_db_snapshot_identifier), "database", None)
        quota = _tags_dict(getattr(source_instance, "tags", None)).get(COPY_QUOTA_TAG)
        if quota is not None:
            used = getattr(source_instance, "_moto_test_quota_errors", 0)
            if used < int(quota):
                source_instance._moto_test_quota_errors = used + 1
                raise exceptions.RDSClientError(
                    "SnapshotQuotaExceeded", "Cannot copy more snapshots into this Region right now (moto-test quota)")
        snapshot = original_copy(self, source_db_snapshot_identifier, target_db_snapshot_identifier,
                                 *args, **kwargs)
        source_region = self.region_name
        if source_db_snapshot_identifier.startswith("arn:"):
            source_region = source_db_snapshot_identifier.split(":")[3]
        snapshot.source_region = source_region
        snapshot.source_db_snapshot_identifier = source_db_snapshot_identifier
        if source_region != self.region_name:
            snapshot.snapshot_type = "manual"
        # A copy keeps the source's encryption; a KmsKeyId re-encrypts it (moto drops both).
        source = self.get_db_snapshot(source_db_snapshot_identifier)
        if not snapshot.kms_key_id and getattr(source, "encrypted", False):
            snapshot.kms_key_id = source.kms_key_id
        snapshot.encrypted = bool(snapshot.kms_key_id) and (snapshot.storage_encrypted or source.encrypted)
        snapshot.storage_encrypted = snapshot.encrypted
        tags = {**_tags_dict(snapshot.database.tags), **_tags_dict(snapshot.tags)}
        _script_status(snapshot, tags, COPY_PENDING_TAG, COPY_FINAL_TAG, "copying")
        return snapshot

    backend_cls.create_db_snapshot = create_db_snapshot
    backend_cls.copy_db_snapshot = copy_db_snapshot


def _patch_cluster_and_instance_status(models: Any) -> None:
    """Status of clusters and instances scripted by tags, read once per describe like snapshots'."""
    def scripted(default: Any) -> property:
        def get_status(self: Any) -> str:
            pending = getattr(self, "_moto_test_pending", 0)
            if pending > 0:
                self._moto_test_pending = pending - 1
                return getattr(self, "_moto_test_pending_status", "creating")
            if hasattr(self, "_moto_test_final"):
                return self._moto_test_final
            return default.fget(self) if isinstance(default, property) else self.__dict__.get("_plain_status",
                                                                                              "available")

        def set_status(self: Any, value: str) -> None:
            if hasattr(self, "_moto_test_final"):
                self._moto_test_final = value
            elif isinstance(default, property):
                default.fset(self, value)
            else:
                self.__dict__["_plain_status"] = value

        return property(get_status, set_status)

    models.DBCluster.status = scripted(models.DBCluster.status)
    models.DBInstance.status = scripted(None)

    backend_cls = models.RDSBackend
    original_create_instance = backend_cls.create_db_instance

    def create_db_instance(self: Any, db_kwargs: dict[str, Any]) -> Any:
        instance = original_create_instance(self, db_kwargs)
        _script_status(instance, _tags_dict(instance.tags), INSTANCE_PENDING_TAG, INSTANCE_FINAL_TAG, "creating")
        return instance

    backend_cls.create_db_instance = create_db_instance


def _patch_automated_snapshot_lookup(models: Any, exceptions: Any) -> None:
    backend_cls = models.RDSBackend
    original_describe = backend_cls.describe_db_snapshots

    def describe_db_snapshots(self: Any, db_instance_identifier: Any = None, db_snapshot_identifier: Any = None,
                              snapshot_type: Any = None, filters: Any = None) -> Any:
        if (db_snapshot_identifier and str(db_snapshot_identifier).lower().startswith("rds:")
                and snapshot_type != "automated"):
            # RDS: an automated snapshot is found by identifier only with SnapshotType=automated.
            raise exceptions.DBSnapshotNotFoundFault(db_snapshot_identifier)
        return original_describe(self, db_instance_identifier, db_snapshot_identifier, snapshot_type, filters)

    backend_cls.describe_db_snapshots = describe_db_snapshots


def _patch_restore_from_instance_snapshot(models: Any, exceptions: Any) -> None:
    backend_cls = models.RDSBackend
    original_restore = backend_cls.restore_db_cluster_from_snapshot

    def restore_db_cluster_from_snapshot(self: Any, from_snapshot_id: str, overrides: dict[str, Any]) -> Any:
        try:
            return original_restore(self, from_snapshot_id, overrides)
        except exceptions.DBClusterSnapshotNotFoundError:
            pass
        # Not a cluster snapshot: restore from an instance snapshot, as RDS does for migrations.
        snapshot = self.get_db_snapshot(from_snapshot_id)  # raises DBSnapshotNotFound for both misses
        if snapshot.status != "available":
            raise exceptions.InvalidParameterValue(
                f"Snapshot {snapshot.db_snapshot_identifier} is {snapshot.status}, not available")
        engine = overrides.get("engine")
        if snapshot.engine == "postgres" and engine != "aurora-postgresql":
            raise exceptions.InvalidParameterCombination(
                f"A {snapshot.engine} snapshot restores only to aurora-postgresql, not {engine}")
        engine_version = overrides.get("engine_version")
        if engine_version and _version_key(engine_version)[:1] != _version_key(snapshot.engine_version)[:1]:
            raise exceptions.InvalidParameterCombination(
                f"Cannot restore a {snapshot.engine_version} snapshot to {engine} {engine_version}")
        if overrides.get("db_cluster_identifier") in self.clusters:
            # moto's create_db_cluster silently replaces an existing cluster; RDS refuses.
            raise exceptions.RDSClientError("DBClusterAlreadyExistsFault",
                                            f"DB Cluster already exists: {overrides['db_cluster_identifier']}")

        props: dict[str, Any] = {
            "db_cluster_identifier": overrides["db_cluster_identifier"],
            "engine": engine,
            "engine_version": engine_version or snapshot.engine_version,
            "master_username": snapshot.master_username or "postgres",
            # RDS keeps the source's credentials; moto cannot read them back, any non-blank value does.
            "master_user_password": "restored-from-snapshot",
            "port": overrides.get("port") or snapshot.port,
            "db_subnet_group_name": overrides.get("db_subnet_group_name"),
            "vpc_security_group_ids": overrides.get("vpc_security_group_ids"),
            "availability_zones": overrides.get("availability_zones"),
            "tags": overrides.get("tags"),
            "deletion_protection": overrides.get("deletion_protection") or False,
            "copy_tags_to_snapshot": overrides.get("copy_tags_to_snapshot") or False,
            "database_name": overrides.get("database_name"),
            "db_cluster_parameter_group_name": overrides.get("db_cluster_parameter_group_name"),
            "allocated_storage": snapshot.allocated_storage,
        }
        for key in ("backup_retention_period", "storage_type", "enable_iam_database_authentication",
                    "enable_cloudwatch_logs_exports", "serverless_v2_scaling_configuration"):
            if overrides.get(key) not in (None, ""):
                props[key] = overrides[key]
        # Encryption as RDS does it: an encrypted snapshot stays encrypted (KmsKeyId may name
        # another key); an unencrypted one is encrypted only when KmsKeyId is given.
        kms_key_id = overrides.get("kms_key_id")
        if kms_key_id:
            props["kms_key_id"] = self._validate_kms_key(kms_key_id)
            props["storage_encrypted"] = True
        elif snapshot.encrypted:
            props["kms_key_id"] = snapshot.kms_key_id
            props["storage_encrypted"] = True
        cluster = self.create_db_cluster(props)
        if not kms_key_id and not snapshot.encrypted:
            cluster.kms_key_id = None
        _script_status(cluster, _tags_dict(cluster.tags), CLUSTER_PENDING_TAG, CLUSTER_FINAL_TAG, "creating")
        return cluster

    backend_cls.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot


def engine_version_catalog() -> list[dict[str, Any]]:
    """DBEngineVersion records: RDS PostgreSQL (with the Aurora versions each can migrate to) and Aurora."""
    from moto.rds.models import RDSBackend

    options = RDSBackend("us-east-1", "123456789012").describe_orderable_db_instance_options("aurora-postgresql", None)
    aurora = sorted({o["EngineVersion"] for o in options}, key=_version_key)

    def record(engine: str, version: str, targets: list[dict[str, Any]]) -> dict[str, Any]:
        major = version.split(".")[0] if int(version.split(".")[0]) >= 10 else ".".join(version.split(".")[:2])
        return {"Engine": engine, "EngineVersion": version, "DBParameterGroupFamily": f"{engine}{major}",
                "DBEngineDescription": "PostgreSQL" if engine == "postgres" else "Aurora (PostgreSQL)",
                "DBEngineVersionDescription": f"{engine} {version}", "Status": "available",
                "ValidUpgradeTarget": targets}

    records = []
    for version in POSTGRES_VERSIONS:
        # Aurora takes an RDS snapshot of the same major version at the same or a later minor.
        same_major = [v for v in aurora
                      if v.split(".")[0] == version.split(".")[0] and _version_key(v) >= _version_key(version)]
        targets = [{"Engine": "aurora-postgresql", "EngineVersion": v, "Description": f"Aurora PostgreSQL {v}",
                    "AutoUpgrade": False, "IsMajorVersionUpgrade": False} for v in same_major]
        records.append(record("postgres", version, targets))
    for version in aurora:
        records.append(record("aurora-postgresql", version, []))
    return records


def _patch_describe_db_engine_versions(responses: Any) -> None:
    from moto.core.responses import ActionResult

    catalog = engine_version_catalog()

    def describe_db_engine_versions(self: Any) -> Any:
        engine = self.params.get("Engine")
        version = self.params.get("EngineVersion")
        found = [r for r in catalog
                 if (not engine or r["Engine"] == engine) and (not version or r["EngineVersion"] == version)]
        if self.params.get("DefaultOnly") and found:
            found = [max(found, key=lambda r: _version_key(r["EngineVersion"]))]
        return ActionResult({"DBEngineVersions": found})

    responses.RDSResponse.describe_db_engine_versions = describe_db_engine_versions


def install() -> None:
    """Patch moto's RDS in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.rds import exceptions, models, responses

    _patch_snapshot_status(models, exceptions)
    _patch_cluster_and_instance_status(models)
    _patch_automated_snapshot_lookup(models, exceptions)
    _patch_restore_from_instance_snapshot(models, exceptions)
    _patch_describe_db_engine_versions(responses)
    _installed = True


def serve(host: str, port: int, ready_file: str | None = None) -> None:
    """Run a patched moto server until SIGTERM/SIGINT. Port 0 picks a free port."""
    install()
    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    actual_port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(actual_port)  # moto builds some URLs from it

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    info = {"pid": os.getpid(), "pgid": os.getpgid(0), "port": actual_port,
            "endpoint": f"http://{host}:{actual_port}"}
    if ready_file:
        tmp = f"{ready_file}.tmp"
        with open(tmp, "w") as fh:
            json.dump(info, fh)
        os.replace(tmp, ready_file)
    print(json.dumps(info), flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localstack.moto_rds",
                                     description="moto server with the RDS extensions pgferry's tests need")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as JSON on stdout)")
    parser.add_argument("--ready-file", help="write {pid, pgid, port, endpoint} as JSON here once listening")
    parser.add_argument("--new-session", action="store_true",
                        help="become a process-group leader, so `kill -- -PGID` stops exactly this server")
    args = parser.parse_args(argv)
    if args.new_session and os.getpgid(0) != os.getpid():
        os.setsid()
    serve(args.host, args.port, args.ready_file)


if __name__ == "__main__":
    main(sys.argv[1:])
