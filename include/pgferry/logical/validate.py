"""Task `validate`: source against target, after renames, and proof that the source took no writes.

What it compares comes from the source's catalog, not from the plan the copy used: every table and
sequence whose data pg_dump would dump for the run's selection (extension configuration tables on the
rows their filter keeps), mapped through the plan's renames and columns; one the plan has no place for,
or the target lacks, is a failure named in the report (docs/validation.md). Per table row counts and
content checksums, sequences, objects by kind, and the source's write counters against those precheck
read. The report goes to the task log, to XCom and to the run's "Run report" tab (report/), also when
validation fails; a good run's rate feeds the window estimates.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from include.pgferry.logical import comparison, large_objects
from include.pgferry.logical.common import client_tools, endpoints, parallelism, wants
from include.pgferry.model import Plan
from include.pgferry.pg.dumped_data import dumped_data
from include.pgferry.report import publish
from include.pgferry.report.model import build_report
from include.pgferry.report.text import render_report

log = logging.getLogger("pgferry")


def _set_drift_aside(scope: comparison.Scope, drift: list, ddl_advice: str | None) -> list[str]:
    """The drift's problems, each with the advice; what the scope would say again of the same objects is
    left to them (a table created on the source, a column added to one), and a column the source no longer
    has is not read."""
    if not drift:
        return []
    new_tables = {d.table for d in drift if d.kind == "table" and d.side == "source"}
    new_columns = {d.table for d in drift if d.kind == "column" and d.side == "source"}
    scope.not_planned = [t for t in scope.not_planned if t not in new_tables]
    scope.columns_left_out = [c for c in scope.columns_left_out if c.split(" (")[0] not in new_columns]
    gone = {}
    for d in drift:
        if d.kind == "column" and d.side == "target":
            gone.setdefault(d.table, set()).add(d.name)
    scope.tables = [replace(t, columns=tuple(c for c in t.columns if c[1] not in gone[t.key]))
                    if t.key in gone else t for t in scope.tables]
    return [f"{d.text} ({ddl_advice})" for d in drift]


class ValidationFailed(RuntimeError):
    def __init__(self, problems, text):
        super().__init__("validation failed:\n  " + "\n  ".join(problems))
        self.text = text


def _settled(settled: dict | None, t: comparison.TableComparison) -> bool:
    """Is the table's result settled already (online/prevalidation.py, logical/compare_rows.py), for the same
    names, columns and rows?"""
    s = (settled or {}).get(t.key)
    return bool(s) and s["target"] == str(t.target) and s["condition"] == t.condition \
        and s["columns"] == [list(c) for c in t.columns]


def validate(params: dict, state: dict, copy_results: list, ddl_advice: str | None = None,
             settled: dict | None = None) -> dict:
    """`ddl_advice` (the online DAG, whose source stays writable, DDL included, while it runs): the tables'
    structure is compared too, each difference named first with this advice (comparison.structure_drift).
    `settled`: tables whose comparison is settled already, each used only for the same target, columns and
    filter: the offline DAG's tables that matched in compare_rows (logical/compare_rows.py), the online DAG's
    that the pre-validation and the buckets read again since settle (online/prevalidation.settle)."""
    source_ep, target_ep = endpoints(params)
    plan = Plan.from_xcom(state["plan"])
    with source_ep.connect(autocommit=True) as source, target_ep.connect(autocommit=True) as target:
        # the source's catalog says what must be on the target; the plan only says under which names
        scope = comparison.scope_against_plan(
            dumped_data(source, params.get("objects"), params.get("exclude")), plan,
            params.get("rename"), bool(params.get("skip_unmigratable", False)))
        drift = comparison.structure_drift(source, target, plan) \
            if ddl_advice is not None and wants(params, "structure") else []
        first = _set_drift_aside(scope, drift, ddl_advice)
        # a table or sequence of the plan that the source no longer has (dropped during the run) is named,
        # not read
        gone_from_source = comparison.missing_relations(source, [t.source for t in scope.tables]
                                                        + [s.source for s in scope.sequences])
        named = {d.table for d in drift if d.kind == "table"}
        first += [f"{'table' if any(t.source == q for t in scope.tables) else 'sequence'} {q}: gone from the source"
                  + (f" ({ddl_advice})" if ddl_advice else "") for q in sorted(gone_from_source, key=str)
                  if str(q) not in named]
        scope.tables = [t for t in scope.tables if t.source not in gone_from_source]
        scope.sequences = [s for s in scope.sequences if s.source not in gone_from_source]
        gone = comparison.missing_relations(target, [t.target for t in scope.tables]
                                            + [s.target for s in scope.sequences])
        lacking = [t for t in scope.tables if t.target in gone]
        if wants(params, "data"):
            # a configuration table the target lacks (a selection by schema that did not bring the extension)
            # is missing only when the source has rows of it to dump
            empty = comparison.empty_on_source(source_ep, [t for t in lacking if t.extension],
                                               state.get("row_hash", "md5"))
            scope.missing_on_target = sorted(f"{t.key}" + (f" (as {t.target})" if t.target != t.source else "")
                                             for t in lacking if t.key not in empty)
        # an extension's configuration sequence goes with its extension: not there, not compared
        scope.sequences = [s for s in scope.sequences
                           if not (s.oid in scope.configuration_sequences and s.target in gone)]
        present = [s for s in scope.sequences if s.target not in gone]
        # the tables first, the write counters after them (as before): a write during the read is caught
        tables = []
        if wants(params, "data"):
            present_tables = [t for t in scope.tables if t.target not in gone]
            reused = [settled[t.key]["result"] for t in present_tables if _settled(settled, t)]
            tables = sorted(comparison.compare_tables(
                source_ep, target_ep, [t for t in present_tables if not _settled(settled, t)], parallelism(params),
                state.get("row_hash", "md5")) + reused, key=lambda r: r["table"])
        src_seq = comparison.sequence_values(source, scope.sequences, target_side=False)
        tgt_seq = comparison.sequence_values(target, present, target_side=True) \
            if wants(params, "structure") or wants(params, "data") else {}
        counters_now = comparison.write_counters(source, plan)
        # what the plan leaves out on purpose is not expected on the target: the entries structure left out
        src_objects = comparison.object_counts(source, [r.source for r in plan.relations],
                                               [s.source for s in plan.schemas if s.whole], plan.left_out_entries)
        tgt_objects = comparison.object_counts(target, [r.target for r in plan.relations],
                                               [s.target for s in plan.schemas if s.whole])
        if plan.whole_database and wants(params, "structure"):   # database-level: they move with the whole database
            src_objects.update(comparison.publication_counts(source))
            tgt_objects.update(comparison.publication_counts(target))
        dump = None
        if comparison.dump_comparable(plan) and wants(params, "structure"):
            keep_owners, tools = params.get("keep_owners", True), client_tools(state)
            with ThreadPoolExecutor(2) as pool:   # one schema-only pg_dump per side, at once, by the same pg_dump
                src_dump = pool.submit(comparison.dump_entries, source_ep, plan, tools, keep_owners, False)
                tgt_dump = pool.submit(comparison.dump_entries, target_ep, plan, tools, keep_owners, True)
                superuser = target.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
                dump = comparison.compare_dump_entries(src_dump.result(), tgt_dump.result(), plan.renamed, superuser)
        blobs = None
        # the whole database's large objects, also when the plan would say otherwise
        if large_objects.migrated(params, plan) or (not params.get("objects") and wants(params, "data")):
            blobs = comparison.compare_large_objects(comparison.large_object_digests(source),
                                                     comparison.large_object_digests(target),
                                                     params.get("keep_owners", True))
    by_oid = {str(r.oid): str(r.source) for r in plan.relations + plan.extension_tables}
    written = sorted(by_oid[o] for o, n in counters_now.items() if state["write_counters"].get(o) != n)
    report = build_report(state, tables, src_seq, tgt_seq, src_objects, tgt_objects, written,
                          [r for lane in (copy_results or []) for r in (lane or [])], large_objects=blobs,
                          dump=dump, scope=scope.to_report() if wants(params, "data") else None,
                          first_problems=first)
    text = render_report(report)
    for line in text.splitlines():
        log.info("%s", line)
    publish.publish(report, text)   # XCom, shown in the run's "Run report" tab, also when it failed
    if report["ok"] and wants(params, "data"):   # the measured rate feeds the window estimates
        from include.pgferry.schedule import throughput
        throughput.record(state["source_bytes"], report["elapsed_seconds"])
    if not report["ok"]:
        raise ValidationFailed(report["problems"], text)
    return report
