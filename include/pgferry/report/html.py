"""The run reports as HTML, for the run's "Run report" tab (app.py)."""
from __future__ import annotations

import html
from typing import Any

from include.pgferry.report.model import LogicalReport, OnlineReport, SnapshotReport
from include.pgferry.report.text import online_lines

_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1a202c}
h1{font-size:18px;margin:0 0 4px} h2{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:4px 0} td,th{border:1px solid #cbd5e0;padding:3px 8px;text-align:left}
th{background:#edf2f7} td.num{text-align:right} .ok{color:#276749;font-weight:600}
.bad{color:#c53030;font-weight:600} .muted{color:#718096} pre{background:#f7fafc;padding:8px;overflow:auto}"""


def _e(v: Any) -> str:
    return html.escape("-" if v is None else str(v))


def _html_table(headers: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class='num'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _sequence_value(v: Any) -> str:
    """(last_value, is_called) as PostgreSQL's setval takes it; shown as the value nextval starts after."""
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return _e(v[0]) + ("" if v[1] else " (not yet called)")
    return _e(v)


def _verdict(ok: bool, good: str = "ok", bad: str = "DIFFERS") -> str:
    return f"<span class='{'ok' if ok else 'bad'}'>{_e(good if ok else bad)}</span>"


def online_report_html(r: OnlineReport) -> str:
    """The online run's cutover: lag when asked, the answer, the downtime, what the apply carried."""
    lag, a, applied = r.get("lag_at_approval"), r.get("approval"), r.get("apply")
    downtime = r.get("downtime_s")
    rows = [
        ["downtime (freeze_source start &rarr; validate end)",
         f"<b>{_e(f'{downtime:.1f} s')}</b>" if downtime is not None
         else "<span class='muted'>not known: validate did not pass</span>"],
        ["lag when the approval was asked",
         _e(f"{lag['lag_bytes'] / 1e6:.1f} MB, "
            f"{'?' if lag['lag_seconds'] is None else format(lag['lag_seconds'], '.1f')} s behind the source; "
            f"{(lag['retained_bytes'] or 0) / 1e6:.1f} MB of WAL retained") if lag else "-"],
        ["approval", _e(f"{a['option']} by {a['by'] or 'unknown'}" + (f" at {a['at']}" if a.get('at') else ""))
         if a else "-"],
        ["freeze_mode", _e((a or {}).get("freeze_mode") or r.get("freeze_mode"))],
        ["applied from the slot", _e(f"{applied['transactions']} transaction(s), {applied['row_changes']} row "
                                     f"change(s)") if applied else "-"],
        ["validate at the cutover", _e(online_lines(r)[-1].split(": ", 1)[1])],
    ]
    return "<h2>Online cutover</h2>" + _html_table(["cutover", "value"], rows)


def logical_report_html(r: LogicalReport, online: OnlineReport | None = None) -> str:
    tables = r.get("tables") or []
    parts = [f"<h1>pgferry validation: {_verdict(r['ok'], 'OK', 'FAILED')}</h1>",
             f"<div class='muted'>{_e(r['source'])} &rarr; {_e(r['target'])}, {_e(r['elapsed_seconds'])} s "
             f"since precheck</div>"]
    if online:
        parts.append(online_report_html(online))
    parts.append(f"<h2>Tables: {sum(1 for t in tables if t['ok'])}/{len(tables)} identical (rows and checksum)</h2>")
    if tables:
        parts.append(_html_table(
            ["table", "rows", "MB", "copy s", "MB/s", "checksum verdict"],
            [[_e(t["table"]), _e(t["target_rows"]), f"{(t.get('bytes') or 0) / 1e6:.1f}", _e(t.get("copy_seconds")),
              _e(t.get("mb_per_s")),
              _verdict(t["ok"], "ok", "ROWS DIFFER" if not t["rows_match"] else "CONTENT DIFFERS")] for t in tables],
            numeric={1, 2, 3, 4}))
    scope = r.get("scope")
    if scope is not None:
        short = scope["not_planned"] + scope["missing_on_target"] + scope["sequences_not_planned"] + \
            scope["columns_left_out"] + [m.split(":")[0] for m in scope.get("misplaced", [])]
        parts.append(f"<p>In scope (the source's catalog: what pg_dump dumps for this selection): "
                     f"{_e(scope['tables'])} table(s) with data, {_e(scope['sequences'])} sequence(s); "
                     f"{_verdict(not short, 'all in the plan and on the target', 'NOT MIGRATED: ' + ', '.join(short))}"
                     + "".join(f"<br>configuration table {_e(t)}: compared on the rows pg_dump dumps of it"
                               for t in scope["configuration_tables"]) + "</p>")
    parts.append("<h2>Objects by kind</h2>")
    parts.append(_html_table(["kind", "source", "target", "verdict"],
                             [[_e(o["kind"]), _e(o["source"]), _e(o["target"]), _verdict(o["ok"])]
                              for o in r.get("objects") or []], numeric={1, 2}))
    seqs = r.get("sequences") or []
    parts.append(f"<h2>Sequences: {sum(1 for s in seqs if s['ok'])}/{len(seqs)} at the source's value</h2>")
    if seqs:
        parts.append(_html_table(["sequence", "source", "target", "verdict"],
                                 [[_e(s["sequence"]), _sequence_value(s["source"]), _sequence_value(s["target"]),
                                   _verdict(s["ok"])]
                                  for s in seqs]))
    written = (r.get("source_writes") or {}).get("tables_written") or []
    parts.append("<h2>Source writes during the run</h2>")
    parts.append(f"<p>{_verdict(not written, 'none', 'WRITTEN: ' + ', '.join(written))} "
                 f"<span class='muted'>({_e((r.get('source_writes') or {}).get('proof'))})</span></p>")
    if r.get("warnings"):
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in r["warnings"]) + "</ul>")
    if r.get("problems"):
        parts.append("<h2>Problems</h2><ul>" + "".join(f"<li class='bad'>{_e(p)}</li>" for p in r["problems"])
                     + "</ul>")
    return "".join(parts)


def snapshot_report_html(r: SnapshotReport) -> str:
    s = r["snapshots"]
    parts = [f"<h1>pgferry snapshot migration: {_verdict(r['ok'], 'cluster available', 'not finished')}</h1>",
             f"<div class='muted'>{_e(r['source']['db_instance_identifier'])} ({_e(r['source']['region'])}) "
             f"&rarr; Aurora cluster {_e(r['db_cluster_identifier'])} ({_e(r['region'])})</div>",
             "<h2>Snapshots</h2>",
             _html_table(["source snapshot", "origin", "copied to target Region", "restored from"],
                         [[_e(s["source_snapshot"]), "given" if s["snapshot_given"] else "taken by this run",
                           _e(s["copied_to_target_region"]), _e(s["restored_from"])]]),
             "<h2>Endpoints</h2>",
             _html_table(["endpoint", "address", "port"],
                         [["writer", _e(r["writer_endpoint"]), _e(r["port"])],
                          ["reader", _e(r["reader_endpoint"]), _e(r["port"])]])]
    if r["instances"]:
        parts += ["<h2>Instances</h2>", _html_table(
            ["instance", "role", "class", "zone", "status"],
            [[_e(i["db_instance_identifier"]), _e(i["role"]), _e(i["db_instance_class"]),
              _e(i["availability_zone"]), _e(i["status"])] for i in r["instances"]])]
    parts += ["<h2>Settings</h2>", _html_table(["setting", "value"], [[_e(k), _e(v)] for k, v in r["settings"].items()])]
    if (r.get("next_step") or {}).get("command"):
        parts.append(f"<h2>Next step</h2><pre>{_e(r['next_step'].get('command'))}</pre><p>{_e(r['next_step'].get('then'))}</p>")
    return "".join(parts)


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_CSS}</style>"
            f"</head><body>{body}</body></html>")
