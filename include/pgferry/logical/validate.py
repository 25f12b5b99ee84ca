"""Task `validate`: source against target, after renames, and proof that the source took no writes.

Per table row counts and content checksums, sequences, objects by kind, and the source's write
counters against those precheck read. The report goes to the task log, to XCom and to the run's
"Run report" tab (report/), also when validation fails; a good run's rate feeds the window estimates.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from include.pgferry.logical import comparison, large_objects
from include.pgferry.logical.common import endpoints, parallelism, wants
from include.pgferry.model import Plan
from include.pgferry.report import publish
from include.pgferry.report.model import build_report
from include.pgferry.report.text import render_report

log = logging.getLogger("pgferry")


class ValidationFailed(RuntimeError):
    def __init__(self, problems, text):
        super().__init__("validation failed:\n  " + "\n  ".join(problems))
        self.text = text


def validate(params: dict, state: dict, copy_results: list) -> dict:
    source_ep, target_ep = endpoints(params)
    plan = Plan.from_xcom(state["plan"])
    tables = comparison.compare_tables(source_ep, target_ep, plan, parallelism(params), state.get("row_hash", "md5")) \
        if wants(params, "data") else []
    with source_ep.connect(autocommit=True) as source, target_ep.connect(autocommit=True) as target:
        src_seq = comparison.sequence_values(source, plan.all_sequences, target_side=False)
        tgt_seq = comparison.sequence_values(target, plan.all_sequences, target_side=True) \
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
            keep_owners = params.get("keep_owners", True)
            with ThreadPoolExecutor(2) as pool:   # one schema-only pg_dump per side, at once
                src_dump = pool.submit(comparison.dump_entries, source_ep, plan, keep_owners, False)
                tgt_dump = pool.submit(comparison.dump_entries, target_ep, plan, keep_owners, True)
                superuser = target.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
                dump = comparison.compare_dump_entries(src_dump.result(), tgt_dump.result(), plan.renamed, superuser)
        blobs = None
        if large_objects.migrated(params, plan):
            blobs = comparison.compare_large_objects(comparison.large_object_digests(source),
                                                     comparison.large_object_digests(target),
                                                     params.get("keep_owners", True))
    by_oid = {str(r.oid): str(r.source) for r in plan.relations + plan.extension_tables}
    written = sorted(by_oid[o] for o, n in counters_now.items() if state["write_counters"].get(o) != n)
    report = build_report(state, tables, src_seq, tgt_seq, src_objects, tgt_objects, written,
                          [r for lane in (copy_results or []) for r in (lane or [])], large_objects=blobs,
                          dump=dump)
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
