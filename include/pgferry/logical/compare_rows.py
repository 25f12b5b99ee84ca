"""Task `compare_rows`: every table's rows and content checksum, source against target, once the triggers and
foreign keys are in place, beside finalize.

Finalize changes no row, and validate reads the source's write counters after this read, so a row that
matched here still matches at validate unless someone writes to the target in between: the same window as
between validate and the cutover (docs/validation.md). The read is validate's own (comparison.compare_tables,
on comparison.tables_to_compare); here it runs beside finalize instead of after it. Not beside the keys
step: measured on two cores shared by both servers, the two slowed each other as much as the overlap saved,
and the keys were in place 15 s (5 GB) to 58 s (20 GB) later (docs/benchmarks.md).

The result, for validate: each table that matched, with the names, columns and filter it was read for.
Validate reuses a result only for the same ones, and reads again every table that did not match here, so its
report states what the target holds after a retry or a fix.
"""
from __future__ import annotations

import logging

from include.pgferry.logical import comparison
from include.pgferry.logical.common import endpoints, parallelism, wants
from include.pgferry.model import Plan

log = logging.getLogger("pgferry")

COMPARED_BY = "compare_rows"   # marks a table's result in validate's report: read by this task


def compare_rows(params: dict, state: dict) -> dict:
    """{"tables": {table key: {target, condition, columns, result}}} of every table that matched;
    `read` and `matched`: how many tables were read and matched."""
    if not wants(params, "data"):
        return {"tables": {}, "read": 0, "matched": 0}
    source_ep, target_ep = endpoints(params)
    plan = Plan.from_xcom(state["plan"])
    with source_ep.connect(autocommit=True) as source, target_ep.connect(autocommit=True) as target:
        tables = comparison.tables_to_compare(source, target, params, plan)
    results = comparison.compare_tables(source_ep, target_ep, tables, parallelism(params),
                                        state.get("row_hash", "md5"))
    by_key = {r["table"]: r for r in results}
    matched = {t.key: {"target": str(t.target), "condition": t.condition, "columns": [list(c) for c in t.columns],
                       "result": {**by_key[t.key], "compared_by": COMPARED_BY}}
               for t in tables if by_key[t.key]["ok"]}
    differing = sorted(k for k, r in by_key.items() if not r["ok"])
    log.info("compare_rows: %d of %d table(s) match on rows and content checksum%s", len(matched), len(tables),
             f"; differing, for validate to read again and report: {', '.join(differing)}" if differing else "")
    return {"tables": matched, "read": len(tables), "matched": len(matched)}
