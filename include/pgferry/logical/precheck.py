"""Task `precheck`: every check, then one failure listing all blocking findings; nothing is written.

The window guard runs first (a run outside its window stops before connecting anywhere); then both
sides must be reachable; then the plan is built from the Params against the source catalog and every
check of checks/pg.py runs on it. What later tasks need (the plan, the write counters validate compares
against, the hash both sides checksum with) is the task's return value, the run's `state`.
"""
from __future__ import annotations

import logging
import time

import psycopg

from include.pgferry.checks import pg as checks
from include.pgferry.checks import window as window_guard
from include.pgferry.checks.findings import (Finding, PrecheckFailed, check_name, error, log_findings,
                                             raise_if_blocking, run_checks, warning)
from include.pgferry.logical import comparison, extensions
from include.pgferry.logical.common import client_tools, endpoints, wants
from include.pgferry.logical.selection import build_plan
from include.pgferry.pg.catalog import SourceCatalog, fetch_one, major_version, version_label

log = logging.getLogger("pgferry")


def _could_not_run(check, e: Exception) -> Finding:
    if not isinstance(e, psycopg.Error):
        raise e
    return error(check_name(check), f"could not run: {e.diag.message_primary or e}")


def _connect_both(source_ep, target_ep) -> dict:
    findings, conns = [], {}
    for side, ep in (("source", source_ep), ("target", target_ep)):
        try:
            conns[side] = ep.connect(autocommit=True, application_name="pgferry precheck")
        except psycopg.OperationalError as e:
            findings.append(error("reachable", f"cannot connect to the {side} {ep.describe()}: "
                                               f"{str(e).strip().splitlines()[-1]}",
                                  f"check the Airflow connection {ep.conn_id!r} (host, port, database, login, "
                                  f"TLS settings) and that the server accepts connections from this worker"))
    if findings:
        for c in conns.values():
            c.close()
        raise PrecheckFailed(findings)
    return conns


def precheck(params: dict) -> dict:
    window_findings = window_guard.start_findings(params)
    raise_if_blocking(window_findings)
    source_ep, target_ep = endpoints(params)
    conns = _connect_both(source_ep, target_ep)
    source, target = conns["source"], conns["target"]
    try:
        try:
            catalog = SourceCatalog(source)
        except psycopg.errors.InsufficientPrivilege as e:
            user = source.info.user
            raise PrecheckFailed([error(
                "source privileges", f"the source user {user} cannot read the catalog ({e.diag.message_primary}): "
                                     f"it lacks USAGE on schema pg_catalog",
                checks.grant("USAGE ON SCHEMA pg_catalog", user))]) from e
        plan, problems = build_plan(catalog, params.get("objects"), params.get("rename"), params.get("exclude"),
                                    skip_unmigratable=bool(params.get("skip_unmigratable", False)))
        findings = [error("objects", m) for m in problems.errors] + [warning("objects", m) for m in problems.warnings]
        # a whole database of large objects alone is a migration too (they move with the whole database)
        large_objects_only = plan.whole_database and fetch_one(source, "count_large_objects")["n"] > 0
        if not plan.data_tables and not plan.relations and not problems.errors and not large_objects_only:
            findings.append(error("objects", "nothing to migrate: objects chose no table or view",
                                  "name at least one schema, table or view in the objects Param"))
        choice = extensions.choose(source, target, plan, catalog, structure=wants(params, "structure"))
        ctx = checks.Context(source=source, target=target, catalog=catalog, plan=plan,
                             structure=wants(params, "structure"), data=wants(params, "data"),
                             keep_owners=params.get("keep_owners", True),
                             target_free_bytes=params.get("target_free_bytes"), target_host=target_ep.host,
                             skip_unmigratable=bool(params.get("skip_unmigratable", False)), extensions=choice)
        findings += run_checks(checks.ALL_CHECKS, ctx, _could_not_run)
        findings += window_findings + window_guard.fit_findings(params, lambda: checks.source_bytes(ctx))
        log_findings(findings)
        raise_if_blocking(findings)
        plan = extensions.with_choice(plan, choice)
        state = {
            "plan": plan.to_xcom(),
            "warnings": [f.as_dict() for f in findings],
            "source": source_ep.describe(), "target": target_ep.describe(),
            "source_bytes": checks.source_bytes(ctx),
            # every task picks its pg_dump/pg_restore from these (logical/common.client_tools)
            "server_versions": {"source": source.info.server_version, "target": target.info.server_version},
            "binary_copy": major_version(source.info.server_version) == major_version(target.info.server_version),
            "row_hash": comparison.row_hash(source.info.server_version, target.info.server_version),
            "write_counters": comparison.write_counters(source, plan),
            "started_at": time.time(),
        }
        log.info("precheck passed: %d relation(s), %d table(s) with data, %.1f MB, %d warning(s); PostgreSQL %s -> "
                 "%s, client tools here: %s", len(plan.relations), len(plan.data_tables), state["source_bytes"] / 1e6,
                 len(findings), version_label(source.info.server_version), version_label(target.info.server_version),
                 client_tools(state).label)
        return state
    finally:
        source.close()
        target.close()
