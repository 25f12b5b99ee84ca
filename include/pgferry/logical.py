"""The steps of the logical migration, one function per Airflow task.

Each step opens its own connections from the Airflow connection ids in the Params and reads what
earlier steps decided from XCom (`state`, the precheck's result); nothing passes through local files.
Every step can be retried alone: structure is one transaction and skips itself when a former try
committed it; copy units clear their own rows first; index, constraint and trigger statements skip
objects that already exist.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import psycopg
from psycopg import sql

from include.pgferry.catalog import SourceCatalog, major_version
from include.pgferry.connections import PgEndpoint, apply_settings
from include.pgferry.data import copy as copying
from include.pgferry.data import indexing
from include.pgferry.data import validate as validating
from include.pgferry.data.plan import plan_units
from include.pgferry.names import display
from include.pgferry.checks import pg as checks
from include.pgferry.checks.findings import ERROR, Finding, PrecheckFailed
from include.pgferry.schema.apply import DdlError, execute_in_transaction, execute_parallel
from include.pgferry.schema.dump import SchemaArchive
from include.pgferry.schema.rewrite import (RenameContext, as_not_valid_foreign_key, column_rename_statements,
                                            rewrite, statement_identity)
from include.pgferry.selection import build_plan, data_tables, relation_key, target_key

log = logging.getLogger("pgferry")

INDEX_SESSION = {"maintenance_work_mem": "256MB", "max_parallel_maintenance_workers": "2",
                 "synchronous_commit": "off"}


def endpoints(params: dict) -> tuple[PgEndpoint, PgEndpoint]:
    return PgEndpoint.from_conn_id(params["source_conn_id"]), PgEndpoint.from_conn_id(params["target_conn_id"])


def wants(params: dict, kind: str) -> bool:
    return kind in (params.get("migration_types") or ["structure", "data"])


# -- 1. precheck ---------------------------------------------------------------------------------
def precheck(params: dict) -> dict:
    from include.pgferry.checks import window as window_guard
    window_findings = window_guard.start_findings(params)   # a run outside its window stops here
    if any(f.level == ERROR for f in window_findings):
        raise PrecheckFailed(window_findings)
    source_ep, target_ep = endpoints(params)
    findings: list[Finding] = []
    conns = {}
    for side, ep in (("source", source_ep), ("target", target_ep)):
        try:
            conns[side] = ep.connect(autocommit=True, application_name="pgferry precheck")
        except psycopg.OperationalError as e:
            findings.append(Finding(ERROR, "reachable", f"cannot connect to the {side} {ep.describe()}: "
                                                        f"{str(e).strip().splitlines()[-1]}"))
    if findings:
        for c in conns.values():
            c.close()
        raise PrecheckFailed(findings)
    source, target = conns["source"], conns["target"]
    try:
        try:
            catalog = SourceCatalog(source)
        except psycopg.errors.InsufficientPrivilege as e:
            raise PrecheckFailed([Finding(ERROR, "source privileges", f"the source user cannot read the catalog "
                                          f"({e.diag.message_primary}): it lacks USAGE on schema pg_catalog; "
                                          f"GRANT USAGE ON SCHEMA pg_catalog TO the migration user")]) from e
        plan, problems = build_plan(catalog, params.get("objects"), params.get("rename"), params.get("exclude"))
        findings += [Finding(ERROR, "objects", m) for m in problems.errors]
        findings += [Finding("warning", "objects", m) for m in problems.warnings]
        if not data_tables(plan) and not plan["relations"] and not problems.errors:
            findings.append(Finding(ERROR, "objects", "nothing to migrate: objects chose no table or view"))
        ctx = checks.Context(source=source, target=target, catalog=catalog, plan=plan,
                             structure=wants(params, "structure"), data=wants(params, "data"),
                             keep_owners=params.get("keep_owners", True),
                             target_free_bytes=params.get("target_free_bytes"), target_host=target_ep.host)
        for check in checks.ALL_CHECKS:
            try:
                findings += check(ctx)
            except psycopg.Error as e:
                findings.append(Finding(ERROR, check.__name__.removeprefix("check_").replace("_", " "),
                                        f"could not run: {e.diag.message_primary or e}"))
        findings += window_findings + window_guard.fit_findings(params, lambda: checks.source_bytes(ctx))
        for f in findings:
            (log.error if f.level == ERROR else log.warning)("precheck %s", f)
        if any(f.level == ERROR for f in findings):
            raise PrecheckFailed(findings)
        state = {
            "plan": plan,
            "warnings": [f.as_dict() for f in findings],
            "source": source_ep.describe(), "target": target_ep.describe(),
            "source_bytes": checks.source_bytes(ctx),
            "binary_copy": major_version(source.info.server_version) == major_version(target.info.server_version),
            "row_hash": validating.row_hash(source.info.server_version, target.info.server_version),
            "write_counters": validating.write_counters(source, plan),
            "started_at": time.time(),
        }
        log.info("precheck passed: %d relation(s), %d table(s) with data, %.1f MB, %d warning(s)",
                 len(plan["relations"]), len(data_tables(plan)), state["source_bytes"] / 1e6, len(findings))
        return state
    finally:
        source.close()
        target.close()


# -- 2. structure --------------------------------------------------------------------------------
def _existing_relations(conn, plan) -> set:
    wanted = {(r["target_schema"], r["target_name"]) for r in plan["relations"]}
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s)", (sorted({s for s, _ in wanted}),)).fetchall()
    return {tuple(r) for r in rows} & wanted


def _target_schemas_present(conn, plan) -> set:
    wanted = [s["target"] for s in plan["schemas"]]
    return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
                                       (wanted,)).fetchall()}


def _needed_extensions(source_ep, plan) -> list[str]:
    with source_ep.connect(autocommit=True) as source:
        cat_rows = source.execute(
            "SELECT DISTINCT e.extname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid OR t.typarray = a.atttypid "
            "JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e' "
            "JOIN pg_extension e ON e.oid = d.refobjid WHERE a.attrelid = ANY(%s::bigint[]::oid[])",
            ([r["oid"] for r in plan["relations"]],)).fetchall()
    return sorted(r[0] for r in cat_rows)


def structure(params: dict, state: dict) -> dict:
    if not wants(params, "structure"):
        log.info("structure not in migration_types: using the tables already on the target")
        return {"statements": 0, "skipped": True}
    source_ep, target_ep = endpoints(params)
    plan = state["plan"]
    with target_ep.connect(application_name="pgferry structure") as target:
        existing = _existing_relations(target, plan)
        wanted = {(r["target_schema"], r["target_name"]) for r in plan["relations"]}
        if existing and existing == wanted:
            log.info("the target already holds all %d relations: an earlier try committed the structure", len(wanted))
            return {"statements": 0, "skipped": True}
        if existing:
            raise DdlError(f"the target holds some but not all of the migrated relations "
                           f"({', '.join(sorted(display(*e) for e in existing)[:10])}): something else created "
                           f"them since precheck; drop them and clear this task")
        ctx = RenameContext.from_plan(plan, _target_schemas_present(target, plan))
        with SchemaArchive(source_ep, plan, params.get("keep_owners", True)) as archive:
            result = rewrite(archive.sql(archive.phase_entries("structure")), ctx, rename_columns=False)
        extensions = [sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(e))
                      for e in _needed_extensions(source_ep, plan)]
        statements = extensions + result.statements + column_rename_statements(plan)
        target.execute("SET check_function_bodies = false")
        execute_in_transaction(target, statements, "structure")
    for w in result.warnings:
        log.warning("structure: %s", w)
    log.info("structure: %d statement(s) applied in one transaction", len(statements))
    return {"statements": len(statements), "warnings": result.warnings, "skipped": False}


# -- 3. data -------------------------------------------------------------------------------------
def plan_lanes(params: dict, state: dict) -> dict:
    """The copy lanes, and the post-data statements of the later steps: both read only the source, so
    this runs while the structure is restored, and the steps after the lanes need no dump of their own."""
    post_data = _post_data_statements(params, state) if wants(params, "structure") else {}
    if not wants(params, "data"):
        log.info("data not in migration_types: nothing to copy")
        return {"lanes": [], "post_data": post_data}
    source_ep, _ = endpoints(params)
    with source_ep.connect(autocommit=True) as source:
        lanes = plan_units(source, state["plan"], int(params.get("parallelism", 2)), state["binary_copy"])
    lanes = [lane for lane in lanes if lane]
    if post_data:
        _attach_index_builds(post_data["indexes"]["statements"], lanes)
    for i, lane in enumerate(lanes):
        log.info("lane %d: %d unit(s), %.1f MB: %s", i, len(lane), sum(u["bytes"] for u in lane) / 1e6,
                 ", ".join(u["id"] for u in lane[:8]) + (" ..." if len(lane) > 8 else ""))
    return {"lanes": lanes, "post_data": post_data}


def _attach_index_builds(statements: list[str], lanes: list[list[dict]]):
    """Give each unit the index and constraint builds of its table, so a lane builds them as soon as the
    table is loaded, while other lanes still copy (the keys step then only finds leftovers)."""
    by_table: dict[tuple, list[str]] = {}
    for s in statements:
        ident = statement_identity(s)
        if ident and ident[0] in ("index", "constraint"):
            by_table.setdefault((ident[1], ident[2]), []).append(s)
    parts: dict[tuple, int] = {}
    for lane in lanes:
        for u in lane:
            key = (u["target_schema"], u["target_name"])
            parts[key] = parts.get(key, 0) + 1
    for lane in lanes:
        for u in lane:
            key = (u["target_schema"], u["target_name"])
            u["index_builds"] = by_table.get(key, [])
            u["table_parts"] = parts[key]


def lane_label(lane: list[dict]) -> str:
    """How the UI names a mapped copy task: its biggest unit and how many follow."""
    if not lane:
        return "empty"
    return lane[0]["id"] + (f" + {len(lane) - 1} more" if len(lane) > 1 else "")


def copy_lane(params: dict, lane: list[dict]) -> list[dict]:
    source_ep, target_ep = endpoints(params)
    results = []
    remaining: dict[tuple, int] = {}
    for u in lane:
        key = (u["target_schema"], u["target_name"])
        remaining[key] = remaining.get(key, 0) + 1
    with ExitStack() as stack:
        source = stack.enter_context(source_ep.connect(autocommit=True, application_name="pgferry copy"))
        target = stack.enter_context(target_ep.connect(autocommit=True, application_name="pgferry copy"))
        finisher = stack.enter_context(indexing.TableFinisher(target_ep, INDEX_SESSION))
        triggers_off = copying.open_target_session(target)
        for unit in lane:
            key = (unit["target_schema"], unit["target_name"])
            split = unit.get("table_parts", 1) > 1
            if split and remaining[key] == sum(1 for u in lane if (u["target_schema"], u["target_name"]) == key):
                indexing.announce_part_loading(target, key)
            if not triggers_off:
                copying.check_no_triggers(target, unit)
            r = copying.copy_unit(source, target, unit)
            log.info("copied %s: %d rows, %.1f MB in %.1f s (%.1f MB/s)", r.id, r.rows, r.bytes / 1e6, r.seconds,
                     r.bytes / 1e6 / r.seconds if r.seconds else 0)
            result = r.as_dict()
            remaining[key] -= 1
            # the table is complete when this was its last unit (for a table cut into ranges: the last
            # unit of all lanes); its indexes are built while this lane copies the next table
            if remaining[key] == 0 and (not split or indexing.last_part_loaded(target, key)):
                finisher.submit(key, unit.get("index_builds", []), result)
            results.append(result)
        finisher.wait()
    return results


# -- 4-6. post-data ------------------------------------------------------------------------------
POST_DATA_PHASES = ("indexes", "final", "event_triggers")


def _post_data_statements(params, state) -> dict[str, dict]:
    """Each post-data phase's statements, renamed, from one schema dump: {phase: {statements, warnings}}."""
    source_ep, _ = endpoints(params)
    plan = state["plan"]
    # post-data holds no schema statements, so which target schemas exist does not change its text
    ctx = RenameContext.from_plan(plan)
    out = {}
    with SchemaArchive(source_ep, plan, params.get("keep_owners", True)) as archive:
        for phase in POST_DATA_PHASES:
            result = rewrite(archive.sql(archive.phase_entries(phase)), ctx, rename_columns=True)
            out[phase] = {"statements": result.statements, "warnings": result.warnings}
    return out


def _phase_statements(post_data: dict, phase: str) -> tuple[list[str], list[str]]:
    """One phase's statements from plan_lanes' output; its warnings go into this step's log."""
    statements, warnings = post_data[phase]["statements"], post_data[phase]["warnings"]
    for w in warnings:
        log.warning("%s: %s", phase, w)
    return statements, warnings


def _skip_existing(target_ep, statements) -> list[str]:
    out, skipped = [], 0
    with target_ep.connect(autocommit=True) as conn:
        for s in statements:
            ident = statement_identity(s)
            if ident and indexing.exists(conn, ident):
                skipped += 1
                continue
            out.append(s)
    if skipped:
        log.info("%d object(s) already exist from an earlier try and are left as they are", skipped)
    return out


def _leftover_indexes_and_constraints(params: dict, target_ep, post_data: dict) -> tuple[int, list[str]]:
    """The indexes and constraints the lanes did not build (partitioned parents; a table whose lane
    failed before its builds), then partition index attachments: (statements run, warnings)."""
    statements, warnings = _phase_statements(post_data, "indexes")
    statements = _skip_existing(target_ep, statements)
    # index and constraint builds are independent of each other and run in parallel; what needs them
    # (partition index attachments, view bodies that rely on a primary key) runs after, in dump order
    builds = [s for s in statements if (statement_identity(s) or ("",))[0] in ("index", "constraint")]
    attach = [s for s in statements if s not in builds]
    t0 = time.monotonic()
    execute_parallel(target_ep, builds, int(params.get("parallelism", 2)), "indexes and constraints", INDEX_SESSION)
    with target_ep.connect() as conn:
        execute_in_transaction(conn, attach, "index attachments and view rules")
    log.info("indexes and constraints left by the lanes: %d statement(s) in %.1f s", len(statements),
             time.monotonic() - t0)
    return len(statements), warnings


def sequences(params: dict, state: dict) -> dict:
    source_ep, target_ep = endpoints(params)
    seqs = state["plan"]["sequences"]
    with source_ep.connect(autocommit=True) as source:
        values = validating.sequence_values(source, seqs, target_side=False)
    with target_ep.connect() as target, target.transaction():
        for s in seqs:
            last, called = values[f"{s['schema']}.{s['name']}"]
            name = sql.Identifier(s["target_schema"], s["target_name"]).as_string(target)
            target.execute("SELECT setval(%s::regclass, %s, %s)", (name, last, called))
    log.info("sequences: %d set to the source's values", len(seqs))
    return {"sequences": len(seqs)}


def _offending_rows(conn, statement: str, limit: int = 5) -> str:
    """Rows of the referencing table whose key has no match: for the error message."""
    from pglast import parse_sql
    stmt = parse_sql(statement)[0].stmt
    con = stmt.cmds[0].def_
    child = sql.Identifier(stmt.relation.schemaname, stmt.relation.relname)
    parent = sql.Identifier(con.pktable.schemaname, con.pktable.relname)
    fk = [sql.Identifier(s.sval) for s in con.fk_attrs]
    pk = [sql.Identifier(s.sval) for s in con.pk_attrs] if con.pk_attrs else None
    if pk is None:
        return ""
    match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(p, f) for p, f in zip(pk, fk))
    not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(f) for f in fk)
    q = sql.SQL("SELECT {cols} FROM {child} c WHERE {nn} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {m}) "
                "LIMIT {lim}").format(cols=sql.SQL(", ").join(sql.SQL("c.{}").format(f) for f in fk),
                                      child=child, nn=not_null, parent=parent, m=match, lim=sql.Literal(limit))
    rows = conn.execute(q).fetchall()
    names = ", ".join(s.sval for s in con.fk_attrs)
    return "; rows without a match: " + ", ".join(f"({names})=({', '.join(map(str, r))})" for r in rows)


def triggers_and_foreign_keys(params: dict, state: dict, post_data: dict) -> dict:
    if not wants(params, "structure"):
        return {"statements": 0, "skipped": True}
    _, target_ep = endpoints(params)
    # the lanes built each table's indexes and constraints; what is left (and what foreign keys may
    # reference, such as a partitioned table's primary key) is done first
    leftovers, index_warnings = _leftover_indexes_and_constraints(params, target_ep, post_data)
    statements, warnings = _phase_statements(post_data, "final")
    partitioned = {(r["target_schema"], r["target_name"]) for r in state["plan"]["relations"] if r["relkind"] == "p"}
    checks = []   # (identity, statement run in parallel, the original ADD FOREIGN KEY)
    with target_ep.connect(autocommit=True) as conn:
        todo = []
        for s in statements:
            ident = statement_identity(s)
            if ident and ident[0] == "foreign key":
                if (ident[1], ident[2]) in partitioned:
                    # a partitioned table cannot hold a NOT VALID key: it is added, and checked, in one go
                    if not indexing.exists(conn, ident):
                        checks.append((ident, s, s))
                    continue
                nv = as_not_valid_foreign_key(s)
                if nv is not None:
                    checks.append((ident, sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
                        sql.Identifier(ident[1], ident[2]), sql.Identifier(ident[3])), s))
                    s = nv
                if indexing.exists(conn, ident):
                    continue
            elif ident and indexing.exists(conn, ident):
                continue
            todo.append(s)
        execute_in_transaction(conn, todo, "triggers and foreign keys")
    checks.sort(key=lambda c: -_foreign_key_cost(c[2], state["plan"]))   # longest first: both sessions end together
    failures = _check_foreign_keys(target_ep, checks, int(params.get("parallelism", 2)))
    if failures:
        raise DdlError("foreign keys left NOT VALID (or, on partitioned tables, not created) because rows break "
                       "them:\n  " + "\n  ".join(failures))
    log.info("triggers and foreign keys: %d statement(s), %d foreign key(s) checked", len(todo), len(checks))
    return {"index_statements": leftovers, "statements": len(todo), "validated_foreign_keys": len(checks),
            "warnings": index_warnings + warnings}


def _foreign_key_cost(statement: str, plan: dict) -> int:
    """What checking a key reads: the referencing and the referenced table (partitions summed), in bytes."""
    from pglast import parse_sql
    stmt = parse_sql(statement)[0].stmt
    sizes: dict[tuple, int] = {}
    by_oid = {r["oid"]: r for r in plan["relations"]}
    for r in plan["relations"]:
        sizes[(r["target_schema"], r["target_name"])] = sizes.get((r["target_schema"], r["target_name"]), 0) + r["bytes"]
        parent = by_oid.get(r.get("parent_oid"))
        while parent is not None:   # a leaf's bytes count for every partitioned ancestor
            key = (parent["target_schema"], parent["target_name"])
            sizes[key] = sizes.get(key, 0) + r["bytes"]
            parent = by_oid.get(parent.get("parent_oid"))
    pk = stmt.cmds[0].def_.pktable
    return sizes.get((stmt.relation.schemaname, stmt.relation.relname), 0) + sizes.get((pk.schemaname, pk.relname), 0)


def _check_foreign_keys(target_ep, checks: list, workers: int) -> list[str]:
    """Run each key's check (VALIDATE CONSTRAINT, or the ADD itself on a partitioned table) over `workers`
    sessions, in the given order; a key that does not hold is named with the rows that break it."""
    failures, queue = [], list(checks)

    def run():
        with target_ep.connect(autocommit=True, application_name="pgferry validate keys") as conn:
            apply_settings(conn, {"maintenance_work_mem": INDEX_SESSION["maintenance_work_mem"]})
            while queue:
                try:
                    (_, schema, table, name), statement, original = queue.pop(0)
                except IndexError:
                    return
                t0 = time.monotonic()
                try:
                    conn.execute(statement)
                    log.info("foreign key %s on %s holds (%.1f s)", display(name), display(schema, table),
                             time.monotonic() - t0)
                except psycopg.Error as e:
                    failures.append(f"foreign key {display(name)} on {display(schema, table)} does not hold: "
                                    f"{e.diag.message_detail or e.diag.message_primary}"
                                    f"{_offending_rows(conn, original)}")

    workers = max(1, min(workers, len(queue)))
    if queue:
        with ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(run) for _ in range(workers)]:
                f.result()
    return sorted(failures)


# -- 7. finalize ---------------------------------------------------------------------------------
def finalize(params: dict, state: dict, post_data: dict) -> dict:
    _, target_ep = endpoints(params)
    plan = state["plan"]
    # a materialized view left WITH NO DATA on the source stays unpopulated
    matviews = [r for r in plan["relations"] if r["relkind"] == "m" and r["populated"]]
    with target_ep.connect(autocommit=True, application_name="pgferry finalize") as conn:
        # dependency order: a materialized view built on another waits until that one has rows
        pending = list(matviews)
        for _ in range(len(pending) + 1):
            failed = []
            for m in pending:
                try:
                    conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(
                        sql.Identifier(m["target_schema"], m["target_name"])))
                except psycopg.errors.ObjectNotInPrerequisiteState:
                    failed.append(m)
            if not failed or len(failed) == len(pending):
                pending = failed
                break
            pending = failed
        if pending:
            raise DdlError(f"could not refresh {', '.join(target_key(m) for m in pending)}")
        # the copy lanes analyzed each table they loaded; what is left: partitioned parents, materialized
        # views, and tables no lane analyzed (empty, or a data-less run)
        tables = [r for r in plan["relations"] if r["relkind"] in ("p", "m") or
                  (r["relkind"] == "r" and not _has_statistics(conn, r))]
        for t in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(t["target_schema"], t["target_name"])))
    event_triggers = []
    if wants(params, "structure"):
        event_triggers, _ = _phase_statements(post_data, "event_triggers")
        existing = _existing_event_triggers(target_ep)
        event_triggers = [s for s in event_triggers if _event_trigger_name(s) not in existing]
        with target_ep.connect() as conn:
            execute_in_transaction(conn, event_triggers, "event triggers")
    log.info("finalize: %d materialized view(s) refreshed, %d table(s) analyzed, %d event trigger statement(s)",
             len(matviews), len(tables), len(event_triggers))
    return {"refreshed": len(matviews), "analyzed": len(tables), "event_trigger_statements": len(event_triggers)}


def _has_statistics(conn, relation: dict) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = %s AND tablename = %s)",
                        (relation["target_schema"], relation["target_name"])).fetchone()[0]


def _existing_event_triggers(target_ep) -> set:
    with target_ep.connect(autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT evtname FROM pg_event_trigger").fetchall()}


def _event_trigger_name(statement: str) -> str | None:
    from pglast import ast, parse_sql
    stmt = parse_sql(statement)[0].stmt
    return stmt.trigname if isinstance(stmt, ast.CreateEventTrigStmt) else None


# -- 8. validate ---------------------------------------------------------------------------------
def validate(params: dict, state: dict, copy_results: list) -> dict:
    from include.pgferry.report import build_report, render_report
    source_ep, target_ep = endpoints(params)
    plan = state["plan"]
    workers = int(params.get("parallelism", 2))
    tables = validating.compare_tables(source_ep, target_ep, plan, workers, state.get("row_hash", "md5")) \
        if wants(params, "data") else []
    with source_ep.connect(autocommit=True) as source, target_ep.connect(autocommit=True) as target:
        src_seq = validating.sequence_values(source, plan["sequences"], target_side=False)
        tgt_seq = validating.sequence_values(target, plan["sequences"], target_side=True) \
            if wants(params, "structure") or wants(params, "data") else {}
        counters_now = validating.write_counters(source, plan)
        src_rel = [(r["schema"], r["name"]) for r in plan["relations"]]
        tgt_rel = [(r["target_schema"], r["target_name"]) for r in plan["relations"]]
        src_objects = validating.object_counts(source, src_rel, [s["source"] for s in plan["schemas"] if s["whole"]])
        for o in plan["left_out_objects"]:   # not created on purpose: they need a left-out column
            src_objects[o["kind"]] -= 1
        tgt_objects = validating.object_counts(target, tgt_rel, [s["target"] for s in plan["schemas"] if s["whole"]])
    by_oid = {str(r["oid"]): relation_key(r) for r in plan["relations"]}
    written = sorted(by_oid[o] for o, n in counters_now.items() if state["write_counters"].get(o) != n)
    report = build_report(state, tables, src_seq, tgt_seq, src_objects, tgt_objects, written,
                          [r for lane in (copy_results or []) for r in (lane or [])])
    text = render_report(report)
    for line in text.splitlines():
        log.info("%s", line)
    from include.pgferry import ui_report
    from include.pgferry.schedule import throughput
    ui_report.publish(report, text)   # XCom, shown in the run's "Run report" tab, also when it failed
    if report["ok"] and wants(params, "data"):   # the measured rate feeds the window estimates
        throughput.record(state["source_bytes"], report["elapsed_seconds"])
    if not report["ok"]:
        raise ValidationFailed(report["problems"], text)
    return report


class ValidationFailed(RuntimeError):
    def __init__(self, problems, text):
        super().__init__("validation failed:\n  " + "\n  ".join(problems))
        self.text = text
