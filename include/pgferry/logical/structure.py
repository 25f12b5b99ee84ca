"""Task `structure`: pg_dump's pre-data, filtered and renamed, restored on the target in one transaction.

Extensions are created as the source has them (schema and version: the plan's, logical/extensions.py), in
place of pg_dump's own CREATE EXTENSION (which names no version, and which a run of chosen schemas lacks):
after the dump's CREATE SCHEMA statements, before anything that uses them.
A retry after the commit finds every relation and extension there and skips itself; a target that holds
only some of the relations was changed by someone else since precheck, and is refused.
"""
from __future__ import annotations

import logging

from pglast import ast
from psycopg import sql

from include.pgferry.logical import extensions
from include.pgferry.logical.common import client_tools, endpoints, wants
from include.pgferry.model import Plan, QualifiedName
from include.pgferry.pg.catalog import existing_schemas, fetch, setting_names
from include.pgferry.pg.ddl import (DdlError, RenameContext, SchemaArchive, column_rename_statements,
                                    execute_in_transaction, rewrite)

log = logging.getLogger("pgferry")


def _existing_relations(conn, wanted: set[QualifiedName]) -> set[QualifiedName]:
    rows = fetch(conn, "list_existing_relations", schemas=sorted({q.schema for q in wanted}))
    return {QualifiedName(r["schema"], r["name"]) for r in rows} & wanted


def _extensions_there(target, plan: Plan) -> bool:
    names = [e.name for e in plan.extensions]
    installed = {r["name"] for r in fetch(target, "list_extension_versions", names=names)
                 if r["installed_version"] is not None} if names else set()
    return installed == set(names)


def with_extensions(result, plan: Plan, existing: set[str]) -> list:
    """The dump's statements with pg_dump's CREATE EXTENSION replaced by the plan's: right after the last
    CREATE SCHEMA of the dump (pg_dump writes every schema before any extension, and an extension before
    what uses it); the extensions' schemas the dump does not create, first."""
    statements, created, last_schema = [], set(), -1
    for text, node in zip(result.statements, result.nodes):
        if isinstance(node, ast.CreateExtensionStmt):
            continue
        if isinstance(node, ast.CreateSchemaStmt):
            created.add(node.schemaname)
            last_schema = len(statements)
        statements.append(text)
    own = extensions.create_statements(plan)
    statements[last_schema + 1:last_schema + 1] = own
    return extensions.schemas_to_create(plan, created, existing) + statements


def _owners_of_existing_schemas(source_ep, target, plan: Plan, existing: set[str]) -> list:
    """A whole-database run into schemas the target has already (`public`, at least) gives them the
    source's owner, as pg_restore does (pg_dump writes ALTER SCHEMA ... OWNER for them, which the rewrite
    leaves out for schemas it does not create). Only a superuser may give a schema away; other users
    keep the target's owner, and are told."""
    if not plan.whole_database or not existing:
        return []
    with source_ep.connect(autocommit=True) as source:
        source_owner = {r["schema"]: r["owner"] for r in fetch(source, "list_schemas")}
    target_owner = {r["schema"]: r["owner"] for r in fetch(target, "list_schemas")}
    changes = [(s.target, source_owner[s.source]) for s in plan.schemas
               if s.target in existing and s.source in source_owner
               and target_owner.get(s.target) != source_owner[s.source]]
    if not changes:
        return []
    if not target.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        log.warning("structure: schema(s) %s keep their owner on the target (the source's owner differs; only a "
                    "superuser may give a schema away)", ", ".join(f"{t} (source: {o})" for t, o in changes))
        return []
    return [sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(t), sql.Identifier(o)) for t, o in changes]


def structure(params: dict, state: dict) -> dict:
    if not wants(params, "structure"):
        log.info("structure not in migration_types: using the tables already on the target")
        return {"statements": 0, "skipped": True}
    source_ep, target_ep = endpoints(params)
    plan = Plan.from_xcom(state["plan"])
    wanted = {r.target for r in plan.relations}
    with target_ep.connect(application_name="pgferry structure") as target:
        existing = _existing_relations(target, wanted)
        if existing == wanted and (existing or any(not e.installed for e in plan.extensions)) \
                and _extensions_there(target, plan):
            log.info("the target already holds all %d relations: an earlier try committed the structure", len(wanted))
            return {"statements": 0, "skipped": True}
        ctx = RenameContext.from_plan(plan, existing_schemas(target, [s.target for s in plan.schemas]))
        with SchemaArchive(source_ep, plan, client_tools(state), params.get("keep_owners", True),
                           state.get("snapshot")) as archive:
            if existing:
                # a materialized view pg_dump places after the keys its query needs is created later
                later = archive.relations_after("structure")
                if {r.target for r in plan.relations if r.oid not in later} <= existing \
                        and _extensions_there(target, plan):
                    log.info("the target already holds the %d relations the structure creates: an earlier try "
                             "committed it", len(existing))
                    return {"statements": 0, "skipped": True}
                raise DdlError(f"the target holds some but not all of the migrated relations "
                               f"({', '.join(sorted(str(e) for e in existing)[:10])}): something else created "
                               f"them since precheck; drop them and clear this task")
            result = rewrite(archive.sql(archive.phase_entries("structure")), ctx, rename_columns=False,
                             known_settings=setting_names(target))
        for e in plan.extensions:
            if not e.installed and e.version != e.source_version:
                log.warning("structure: extension %s is created in version %s (the source has %s, which the "
                            "target does not offer)", e.name, e.version, e.source_version)
        extension_schemas = existing_schemas(target, [e.schema for e in plan.extensions])
        owners = _owners_of_existing_schemas(source_ep, target, plan, ctx.existing_target_schemas) \
            if params.get("keep_owners", True) else []
        statements = owners + with_extensions(result, plan, extension_schemas) + column_rename_statements(plan)
        target.execute("SET check_function_bodies = false")
        execute_in_transaction(target, statements, "structure")
    for w in result.warnings:
        log.warning("structure: %s", w)
    log.info("structure: %d statement(s) applied in one transaction", len(statements))
    return {"statements": len(statements), "warnings": result.warnings, "skipped": False}
