"""The run report: one structure for XCom and the UI, one plain-text table for the task log."""
from __future__ import annotations

import time


def build_report(state, tables, src_seq, tgt_seq, src_objects, tgt_objects, written, copies) -> dict:
    copy_by_table: dict[str, dict] = {}
    for c in copies:
        key = c["id"].split(" [")[0]
        agg = copy_by_table.setdefault(key, {"bytes": 0, "seconds": 0.0, "rows": 0})
        agg["bytes"] += c["bytes"]
        agg["seconds"] += c["seconds"]
        agg["rows"] += c["rows"]
    for t in tables:
        agg = copy_by_table.get(t["table"], {})
        t["bytes"] = agg.get("bytes")
        t["copy_seconds"] = round(agg["seconds"], 2) if agg else None
        t["mb_per_s"] = round(agg["bytes"] / 1e6 / agg["seconds"], 1) if agg and agg["seconds"] > 0 else None
    sequences = [{"sequence": k, "source": v, "target": tgt_seq.get(k), "ok": tgt_seq.get(k) == v}
                 for k, v in sorted(src_seq.items())]
    kinds = sorted(set(src_objects) | set(tgt_objects))
    objects = [{"kind": k, "source": src_objects.get(k, 0), "target": tgt_objects.get(k, 0),
                "ok": src_objects.get(k, 0) == tgt_objects.get(k, 0)} for k in kinds]
    problems = []
    problems += [f"table {t['table']}: rows {t['source_rows']} on the source, {t['target_rows']} on the target"
                 for t in tables if not t["rows_match"]]
    problems += [f"table {t['table']}: content checksum differs" for t in tables
                 if t["rows_match"] and not t["checksum_match"]]
    problems += [f"sequence {s['sequence']}: source {s['source']}, target {s['target']}" for s in sequences
                 if not s["ok"]]
    problems += [f"{o['kind']}: {o['source']} on the source, {o['target']} on the target" for o in objects
                 if not o["ok"]]
    if written:
        problems.append(f"the source took writes during the migration (no incremental sync in this mode): "
                        f"{', '.join(written)}")
    elapsed = time.time() - state["started_at"]
    return {
        "ok": not problems,
        "problems": problems,
        "source": state["source"], "target": state["target"],
        "elapsed_seconds": round(elapsed, 1),
        "tables": tables, "sequences": sequences, "objects": objects,
        "source_writes": {"tables_written": written, "proof": "pg_stat_all_tables insert/update/delete counters "
                                                               "unchanged since precheck" if not written else
                          "counters moved"},
        "warnings": [w["message"] for w in state.get("warnings", []) if w["level"] == "warning"],
    }


def _table(headers, rows) -> list[str]:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return out


def render_report(r: dict) -> str:
    ok_tables = sum(1 for t in r["tables"] if t["ok"])
    lines = [f"pgferry validation: {'OK' if r['ok'] else 'FAILED'} -- {r['source']} -> {r['target']}, "
             f"{r['elapsed_seconds']} s since precheck",
             f"tables: {ok_tables}/{len(r['tables'])} identical (rows and content checksum)"]
    if r["tables"]:
        lines += _table(["table", "rows", "MB", "copy s", "MB/s", "verdict"],
                        [[t["table"], t["target_rows"], f"{(t['bytes'] or 0) / 1e6:.1f}",
                          t["copy_seconds"] if t["copy_seconds"] is not None else "-",
                          t["mb_per_s"] if t["mb_per_s"] is not None else "-",
                          "ok" if t["ok"] else ("ROWS DIFFER" if not t["rows_match"] else "CONTENT DIFFERS")]
                         for t in r["tables"]])
    lines.append("objects by kind:")
    lines += _table(["kind", "source", "target", "verdict"],
                    [[o["kind"], o["source"], o["target"], "ok" if o["ok"] else "DIFFERS"] for o in r["objects"]])
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
