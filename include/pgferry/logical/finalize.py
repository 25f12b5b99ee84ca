"""Task `finalize`: refresh materialized views, ANALYZE what no lane analyzed, then event triggers; and the
copy lanes' bookkeeping on the target, schema pgferry_copy (the run's list of units, logical/claims.py, and the
record of loaded block ranges, logical/loaded_blocks.py), is removed: every unit is loaded.

Event triggers come last of all DDL: earlier, they would fire on pgferry's own statements.
"""
from __future__ import annotations

import logging

from psycopg import sql

from include.pgferry.logical import loaded_blocks, materialized_views
from include.pgferry.logical.common import endpoints, wants
from include.pgferry.logical.triggers_and_foreign_keys import phase_statements
from include.pgferry.model import Plan, PostData, QualifiedName
from include.pgferry.pg.catalog import fetch
from include.pgferry.pg.ddl import execute_in_transaction

log = logging.getLogger("pgferry")


def finalize(params: dict, state: dict, post_data: dict) -> dict:
    _, target_ep = endpoints(params)
    plan = Plan.from_xcom(state["plan"])
    matviews = materialized_views.to_refresh(plan)
    with target_ep.connect(autocommit=True, application_name="pgferry finalize") as conn:
        materialized_views.refresh(conn, matviews)
        # the copy lanes analyzed each table they loaded; what is left: partitioned parents, materialized
        # views, and tables no lane analyzed (empty, or a data-less run)
        schemas = sorted({r.target.schema for r in plan.relations})
        analyzed = {QualifiedName(r["schema"], r["name"]) for r in fetch(conn, "list_tables_with_statistics",
                                                                          schemas=schemas)}
        tables = [r for r in plan.relations if r.relkind in ("p", "m") or (r.relkind == "r" and r.target not in analyzed)]
        for t in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(t.target.identifier))
        if loaded_blocks.remove(conn):
            log.info("finalize: removed the copy lanes' bookkeeping (%s: the list of units, the loaded block ranges)",
                     loaded_blocks.SCHEMA)
    event_triggers = []
    if wants(params, "structure"):
        statements, _ = phase_statements(PostData.from_xcom(post_data), "event_triggers")
        with target_ep.connect(autocommit=True) as conn:
            existing = {r["name"] for r in fetch(conn, "list_event_triggers")}
        # the statements without a name (comments on event triggers) always run
        event_triggers = [s for s in statements if s.name is None or s.name not in existing]
        with target_ep.connect() as conn:
            execute_in_transaction(conn, event_triggers, "event triggers")
    log.info("finalize: %d materialized view(s) refreshed, %d table(s) analyzed, %d event trigger statement(s)",
             len(matviews), len(tables), len(event_triggers))
    return {"refreshed": len(matviews), "analyzed": len(tables), "event_trigger_statements": len(event_triggers)}
