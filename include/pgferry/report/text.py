"""The run reports as plain text: the task log's form (and the XCom a person reads at a glance)."""
from __future__ import annotations

from include.pgferry.report.model import LogicalReport, OnlineReport, SnapshotReport


def text_table(headers, rows) -> list[str]:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return out


def render_report(r: LogicalReport) -> str:
    ok_tables = sum(1 for t in r["tables"] if t["ok"])
    lines = [f"pgferry validation: {'OK' if r['ok'] else 'FAILED'} -- {r['source']} -> {r['target']}, "
             f"{r['elapsed_seconds']} s since precheck",
             f"tables: {ok_tables}/{len(r['tables'])} identical (rows and content checksum)"]
    early = sum(1 for t in r["tables"] if t.get("compared_by") == "compare_rows")
    if early:
        lines.append(f"  {early} of them read by compare_rows, beside finalize; "
                     f"{len(r['tables']) - early} read by validate")
    if r["tables"]:
        lines += text_table(["table", "rows", "MB", "copy s", "MB/s", "verdict"],
                        [[t["table"], t["target_rows"], f"{(t['bytes'] or 0) / 1e6:.1f}",
                          t["copy_seconds"] if t["copy_seconds"] is not None else "-",
                          t["mb_per_s"] if t["mb_per_s"] is not None else "-",
                          "ok" if t["ok"] else ("ROWS DIFFER" if not t["rows_match"] else "CONTENT DIFFERS")]
                         for t in r["tables"]])
    scope = r.get("scope")
    if scope is not None:
        short = sum(len(scope.get(k, [])) for k in ("not_planned", "missing_on_target", "sequences_not_planned",
                                                     "columns_left_out", "misplaced"))
        lines.append(f"in scope (source catalog: what pg_dump dumps for this selection): {scope['tables']} table(s) "
                     f"with data, {scope['sequences']} sequence(s); {short} the plan or the target falls short of")
        for t in scope["configuration_tables"]:
            lines.append(f"configuration table: {t}, compared on the rows pg_dump dumps of it")
        for t in scope["left_out"]:
            lines.append(f"left out on purpose (skip_unmigratable): {t}")
    lines.append("objects by kind:")
    lines += text_table(["kind", "source", "target", "verdict"],
                    [[o["kind"], o["source"], o["target"], "ok" if o["ok"] else "DIFFERS"] for o in r["objects"]])
    dump = r.get("dump_entries")
    if dump is not None:
        lines.append(f"pg_dump's entries: {dump['entries']} of {dump['kinds']} kinds compared, "
                     f"{len(dump['differing'])} kind(s) differ")
        for e in dump["explained"]:
            lines.append(f"explained: {e}")
    if r["sequences"]:
        bad = [s for s in r["sequences"] if not s["ok"]]
        lines.append(f"sequences: {len(r['sequences']) - len(bad)}/{len(r['sequences'])} at the source's value")
    lines.append("source writes during the run: " + ("none (" + r["source_writes"]["proof"] + ")"
                                                    if not r["source_writes"]["tables_written"] else
                                                    ", ".join(r["source_writes"]["tables_written"])))
    for w in r["warnings"]:
        lines.append(f"warning: {w}")
    for p in r["problems"]:
        lines.append(f"PROBLEM: {p}")
    return "\n".join(lines)


def render_snapshot_report(r: SnapshotReport) -> str:
    s = r["snapshots"]
    lines = [f"pgferry snapshot migration: {'cluster available' if r['ok'] else 'not finished'} -- "
             f"{r['source']['db_instance_identifier']} ({r['source']['region']}) -> Aurora cluster "
             f"{r['db_cluster_identifier']} ({r['region']})",
             f"snapshot: {s['source_snapshot']} ({_snapshot_origin(s)})"
             + (f", copied to {r['region']} as {s['restored_from']}" if s["copied_to_target_region"] else ""),
             f"writer endpoint: {r['writer_endpoint'] or '-'}:{r['port']}",
             f"reader endpoint: {r['reader_endpoint'] or '-'}:{r['port']}"]
    if r["instances"]:
        lines += text_table(["instance", "role", "class", "zone", "status"],
                        [[i["db_instance_identifier"], i["role"], i["db_instance_class"], i["availability_zone"],
                          i["status"]] for i in r["instances"]])
    lines.append("settings: " + ", ".join(f"{k}={v}" for k, v in r["settings"].items()))
    step = r.get("next_step") or {}
    if step.get("command"):
        lines += ["next step: create the connection the logical migration DAG uses as its target:",
                  f"  {step['command']}", f"  (password: {step['password']})", f"  then {step['then']}"]
    return "\n".join(lines)


def _snapshot_origin(snapshots: dict) -> str:
    if snapshots["snapshot_given"]:
        return "given"
    if snapshots.get("taken_by_this_run", True):
        return "taken by this run"
    return "taken by an earlier run; this run found its cluster"


def _mb(n) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def _s(n) -> str:
    return "?" if n is None else f"{n:.1f} s" if n < 100 else f"{n:.0f} s"


def online_lines(r: OnlineReport) -> list[str]:
    """The online run's part, one fact a line (the validate log, after the logical report)."""
    lag, a, applied = r.get("lag_at_approval"), r.get("approval"), r.get("apply")
    lines = ["online cutover:"]
    lines.append("  lag when the approval was asked: " + (
        f"{_mb(lag['lag_bytes'])}, {_s(lag['lag_seconds'])} behind the source; {_mb(lag['retained_bytes'])} of WAL "
        f"retained" if lag else "not recorded"))
    lines.append("  approval: " + (f"{a['option']} by {a['by'] or 'unknown'}"
                                   + (f" at {a['at']}" if a.get("at") else "")
                                   + f", freeze_mode {a['freeze_mode'] or r.get('freeze_mode') or '-'}"
                                   if a else "not recorded"))
    lines.append("  downtime (freeze_source start to validate end): " + (
        _s(r["downtime_s"]) if r.get("downtime_s") is not None else "not known (validate did not pass)"))
    lines.append("  applied from the slot: " + (
        f"{applied['transactions']} transaction(s), {applied['row_changes']} row change(s)" if applied
        else "not recorded"))
    reads = r.get("validate_reads")
    lines.append("  validate at the cutover: " + (
        f"{reads['settled']} of {reads['tables']} table(s) settled from prevalidate by reading "
        f"{reads['buckets_read_again']} changed bucket(s) again; {reads['tables'] - reads['settled']} read whole"
        if reads else "not recorded"))
    return lines


def render_online_report(r: OnlineReport) -> str:
    return "\n".join(online_lines(r))
