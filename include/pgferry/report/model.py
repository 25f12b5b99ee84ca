"""The run reports' model: what each DAG's report holds, as typed JSON (it travels through XCom and the
UI reads it back), and how it is built from what the tasks measured."""
from __future__ import annotations

import time
from typing import Any, TypedDict


class TableCheck(TypedDict):
    table: str              # the source table
    target: str             # its name on the target
    source_rows: int
    target_rows: int
    rows_match: bool
    checksum_match: bool
    ok: bool
    extension: str | None   # an extension's configuration table: compared on the rows pg_dump dumps of it
    bytes: int | None       # what its copy moved, seconds it took, and the rate (None: not copied)
    copy_seconds: float | None
    mb_per_s: float | None


class SequenceCheck(TypedDict):
    sequence: str
    source: Any             # (last_value, is_called)
    target: Any
    ok: bool


class ObjectCount(TypedDict):
    kind: str
    source: int
    target: int
    ok: bool


class SourceWrites(TypedDict):
    tables_written: list[str]
    proof: str


class LogicalReport(TypedDict):
    ok: bool
    problems: list[str]
    source: str
    target: str
    elapsed_seconds: float
    tables: list[TableCheck]
    sequences: list[SequenceCheck]
    objects: list[ObjectCount]
    source_writes: SourceWrites
    warnings: list[str]
    large_objects: dict | None    # {source, target, differing}; None when not migrated
    dump_entries: dict | None     # {kinds, entries, differing, explained}; None when not compared
    scope: dict | None            # what the source's catalog puts in scope and where the plan falls short of it
                                  # (comparison.Scope.to_report); None when no data moved


class SnapshotReport(TypedDict):
    kind: str
    ok: bool
    db_cluster_identifier: str | None
    source: dict
    snapshots: dict
    region: str | None
    status: str | None
    writer_endpoint: str | None
    reader_endpoint: str | None
    port: int | None
    storage_encrypted: bool | None
    instances: list[dict]
    settings: dict
    next_step: dict


class OnlineReport(TypedDict):
    """The online run's own part: where the apply stood when the approval was asked, the answer, the
    downtime and what the apply carried."""
    lag_at_approval: dict | None  # {lag_bytes, lag_seconds, retained_bytes}: wait_caught_up's last look
    approval: dict | None         # {option, by, freeze_mode, at}
    freeze_mode: str | None       # as the freeze ran it
    freeze_started_at: float | None   # epoch seconds: freeze_source began
    validated_at: float | None        # epoch seconds: validate ended (None: it did not pass)
    downtime_s: float | None          # freeze_source start -> validate end
    apply: dict | None            # {transactions, row_changes}: over every try of apply_changes
    validate_reads: dict | None   # {tables, settled, buckets_read_again}: what validate read at the cutover


def _who(user) -> str | None:
    """The HITL response's responded_by_user ({id, name}) as one label."""
    if isinstance(user, dict):
        name, uid = user.get("name"), user.get("id")
        return f"{name} ({uid})" if name and uid and str(name) != str(uid) else str(name or uid or "") or None
    return str(user) if user else None


def online_report(lag: dict | None, response: dict | None, frozen: dict | None, validated_at: float | None,
                  applied: dict | None, tables: list[dict] | None = None) -> OnlineReport:
    """From the XComs of wait_caught_up (`lag`), approve_cutover (`response`), freeze_source and apply_changes,
    and validate's end (None when it did not pass: then there is no downtime to state yet); `tables`: validate's
    rows of the tables, a table settled from prevalidate with its `buckets_read_again`."""
    started = (frozen or {}).get("started_at", (frozen or {}).get("frozen_at"))
    answer = None
    if response:
        options = response.get("chosen_options") or []
        answer = {"option": options[0] if options else None, "by": _who(response.get("responded_by")),
                  "freeze_mode": (response.get("params_input") or {}).get("freeze_mode"),
                  "at": response.get("responded_at")}
    return {
        "lag_at_approval": {k: (lag or {}).get(k) for k in ("lag_bytes", "lag_seconds", "retained_bytes")}
        if lag else None,
        "approval": answer,
        "freeze_mode": (frozen or {}).get("mode"),
        "freeze_started_at": started,
        "validated_at": validated_at,
        "downtime_s": round(validated_at - started, 1) if started is not None and validated_at is not None else None,
        "apply": {"transactions": applied.get("transactions"), "row_changes": applied.get("row_changes")}
        if applied and not applied.get("aborted") else None,
        "validate_reads": {"tables": len(tables), "settled": sum(1 for t in tables if "buckets_read_again" in t),
                           "buckets_read_again": sum(t.get("buckets_read_again", 0) for t in tables)}
        if tables else None,
    }


def build_report(state, tables, src_seq, tgt_seq, src_objects, tgt_objects, written, copies,
                 large_objects: dict | None = None, dump: dict | None = None, scope: dict | None = None,
                 first_problems: list[str] = ()) -> LogicalReport:
    """The logical migration's verdict: per table (with what its copy took, summed over its units),
    sequences, objects by kind, large objects (None: not migrated; else source/target counts and the OIDs
    that differ), pg_dump's entries kind by kind (None: not compared; else what differs, and what differs
    for a reason PostgreSQL explains) and the source's write counters; every unexplained difference
    becomes a problem; `first_problems` (named by the caller, such as the online DAG's structure drift) come
    first."""
    if large_objects is not None and (large_objects["source"] or large_objects["target"]):
        src_objects = {**src_objects, "large object": large_objects["source"]}
        tgt_objects = {**tgt_objects, "large object": large_objects["target"]}
    copy_by_table: dict[str, dict] = {}
    for c in copies:
        agg = copy_by_table.setdefault(c["table"], {"bytes": 0, "seconds": 0.0, "rows": 0})
        agg["bytes"] += c["bytes"]
        agg["seconds"] += c["seconds"]
        agg["rows"] += c["rows"]
    for t in tables:
        t.setdefault("extension", None)
        agg = copy_by_table.get(t["table"], {})
        t["bytes"] = agg.get("bytes")
        t["copy_seconds"] = round(agg["seconds"], 2) if agg else None
        t["mb_per_s"] = round(agg["bytes"] / 1e6 / agg["seconds"], 1) if agg and agg["seconds"] > 0 else None
    sequences = [{"sequence": k, "source": v, "target": tgt_seq.get(k), "ok": tgt_seq.get(k) == v}
                 for k, v in sorted(src_seq.items())]
    kinds = sorted(set(src_objects) | set(tgt_objects))
    objects = [{"kind": k, "source": src_objects.get(k, 0), "target": tgt_objects.get(k, 0),
                "ok": src_objects.get(k, 0) == tgt_objects.get(k, 0)} for k in kinds]
    problems = list(first_problems)
    if scope is not None:
        problems += [f"table {t}: its rows are in scope (pg_dump dumps them for this selection) but the plan has "
                     f"no place for them: not copied, not compared" for t in scope["not_planned"]]
        problems += [f"table {t}: missing on the target" for t in scope["missing_on_target"]]
        problems += [f"table {t}: column(s) the selection takes but the plan leaves out" for t in
                     scope["columns_left_out"]]
        problems += scope.get("misplaced", [])
        problems += [f"sequence {s}: in scope (pg_dump dumps its value for this selection) but the plan has no "
                     f"place for it: not set, not compared" for s in scope["sequences_not_planned"]]

    def configuration(t):
        return f" (the rows pg_dump dumps of extension {t['extension']}'s configuration table)" \
            if t["extension"] else ""
    problems += [f"table {t['table']}: rows {t['source_rows']} on the source, {t['target_rows']} on the target"
                 + configuration(t) for t in tables if not t["rows_match"]]
    problems += [f"table {t['table']}: content checksum differs" + configuration(t) for t in tables
                 if t["rows_match"] and not t["checksum_match"]]
    problems += [f"sequence {s['sequence']}: source {s['source']}, target {s['target']}" for s in sequences
                 if not s["ok"]]
    problems += [f"{o['kind']}: {o['source']} on the source, {o['target']} on the target" for o in objects
                 if not o["ok"]]
    if large_objects is not None and large_objects["differing"]:
        shown = large_objects["differing"]
        problems.append(f"large objects differ: {', '.join(shown[:10])}" +
                        (f" and {len(shown) - 10} more" if len(shown) > 10 else ""))
    if dump is not None:
        problems += [f"pg_dump entries {d}" for d in dump["differing"]]
    if written:
        problems.append(f"the source took writes during the migration (no incremental sync in this mode): "
                        f"{', '.join(written)}")
    elapsed = time.time() - state["started_at"]
    return {
        "ok": not problems,
        "problems": problems,
        "source": state["source"], "target": state["target"],
        "elapsed_seconds": round(elapsed, 1),
        "tables": tables, "sequences": sequences, "objects": objects, "large_objects": large_objects,
        "dump_entries": dump,
        "scope": scope,
        "source_writes": {"tables_written": written, "proof": "pg_stat_all_tables insert/update/delete counters "
                                                               "unchanged since precheck" if not written else
                          "counters moved"},
        "warnings": [w["message"] for w in state.get("warnings", []) if w["level"] == "warning"],
    }


SNAPSHOT_SETTINGS = ("engine", "engine_version", "db_instance_class", "port", "db_subnet_group_name",
                     "vpc_security_group_ids", "availability_zone", "publicly_accessible",
                     "auto_minor_version_upgrade", "encrypted_at_rest", "restore_kms_key_id", "deletion_protection",
                     "storage_type", "backup_retention_period", "iam_database_authentication",
                     "cloudwatch_logs_exports", "copy_tags_to_snapshot", "db_cluster_parameter_group_name",
                     "serverless_v2_scaling", "restored_from_snapshot")


def snapshot_report(plan: dict, endpoints: dict | None) -> SnapshotReport:
    """What the snapshot migration did, from its precheck plan and its published endpoints (no secrets)."""
    plan = plan or {}
    endpoints = endpoints or {}
    return {
        "kind": "snapshot",
        "ok": bool(endpoints.get("writer_endpoint")),
        "db_cluster_identifier": endpoints.get("db_cluster_identifier") or plan.get("db_cluster_identifier"),
        "source": {"db_instance_identifier": plan.get("source_db_instance_identifier"),
                   "region": plan.get("source_region")},
        "snapshots": {"source_snapshot": plan.get("source_snapshot_identifier"),
                      "snapshot_given": plan.get("snapshot_given"),
                      # False on a rerun that found its cluster: no snapshot was taken this time
                      "taken_by_this_run": bool(plan.get("snapshot_needed", True)) and not plan.get("snapshot_given"),
                      "copied_to_target_region": plan.get("copy_needed"),
                      "restored_from": plan.get("target_snapshot_identifier")},
        "region": endpoints.get("region") or plan.get("target_region"),
        "status": endpoints.get("status"),
        "writer_endpoint": endpoints.get("writer_endpoint"),
        "reader_endpoint": endpoints.get("reader_endpoint"),
        "port": endpoints.get("port") or plan.get("port"),
        "storage_encrypted": endpoints.get("storage_encrypted"),
        "instances": endpoints.get("instances") or [],
        "settings": {k: plan.get(k) for k in SNAPSHOT_SETTINGS if k in plan},
        "next_step": endpoints.get("next_step") or {},
    }


