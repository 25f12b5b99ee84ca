"""Task `triggers_and_foreign_keys`: created last, as DTS does.

First what indexes and constraints the lanes left (partitioned parents; a table whose lane failed
before its builds) with the rest of their phase (partition index attachments, materialized views that
need a key), in pg_dump's dependency order, then triggers and foreign keys in one transaction
(keys NOT VALID), then every key checked on parallel sessions, longest first.
"""
from __future__ import annotations

import logging
import time

from psycopg import sql

from include.pgferry.logical.common import INDEX_SESSION, endpoints, parallelism, wants
from include.pgferry.logical.foreign_keys import KeyCheck, check_foreign_keys, check_order
from include.pgferry.model import FOREIGN_KEY, PUBLICATION, DdlStatement, Plan, PostData
from include.pgferry.pg.catalog import exists
from include.pgferry.pg.ddl import DdlError, execute_in_transaction, execute_parallel

log = logging.getLogger("pgferry")


def phase_statements(post_data: PostData, phase: str) -> tuple[list[DdlStatement], list[str]]:
    """One phase's statements from plan_lanes' output; its warnings go into this step's log."""
    for w in post_data.warnings(phase):
        log.warning("%s: %s", phase, w)
    return list(post_data.statements(phase)), list(post_data.warnings(phase))


def _skip_existing(target_ep, statements: list[DdlStatement]) -> list[DdlStatement]:
    with target_ep.connect(autocommit=True) as conn:
        out = [s for s in statements if not (s.identity and exists(conn, s.identity))]
    if len(out) < len(statements):
        log.info("%d object(s) already exist from an earlier try and are left as they are", len(statements) - len(out))
    return out


def _leftover_indexes_and_constraints(params: dict, target_ep, post_data: PostData) -> tuple[int, list[str]]:
    """The indexes and constraints the lanes did not build, and every other post-data object of the phase
    (partition index attachments, view bodies that rely on a primary key, materialized views placed after
    the keys and their indexes), on parallel sessions, each once what it depends on in pg_dump's graph is
    there: (statements run, warnings)."""
    statements, warnings = phase_statements(post_data, "indexes")
    statements = _skip_existing(target_ep, statements)
    t0 = time.monotonic()
    execute_parallel(target_ep, statements, parallelism(params), "indexes and constraints", INDEX_SESSION,
                     existing_ok=True)
    log.info("indexes and constraints left by the lanes: %d statement(s) in %.1f s", len(statements),
             time.monotonic() - t0)
    return len(statements), warnings


def triggers_and_foreign_keys(params: dict, state: dict, post_data: dict) -> dict:
    if not wants(params, "structure"):
        return {"statements": 0, "skipped": True}
    post = PostData.from_xcom(post_data)
    _, target_ep = endpoints(params)
    # what foreign keys may reference (a partitioned table's primary key) is built first
    leftovers, index_warnings = _leftover_indexes_and_constraints(params, target_ep, post)
    statements, warnings = phase_statements(post, "final")
    plan = Plan.from_xcom(state["plan"])
    partitioned = {r.target for r in plan.relations if r.relkind == "p"}
    checks: list[KeyCheck] = []
    todo = []
    with target_ep.connect(autocommit=True) as conn:
        for s in statements:
            if s.kind == FOREIGN_KEY:
                if s.table in partitioned:
                    # a partitioned table cannot hold a NOT VALID key: it is added, and checked, in one go
                    if not exists(conn, s.identity):
                        checks.append(KeyCheck(s, s.sql))
                    continue
                run = s.sql
                if s.not_valid_sql is not None:
                    checks.append(KeyCheck(s, sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
                        s.table.identifier, sql.Identifier(s.name))))
                    run = s.not_valid_sql
                if exists(conn, s.identity):
                    continue
                todo.append(run)
            elif s.identity and exists(conn, s.identity):
                continue
            elif s.kind == PUBLICATION:
                # what an earlier try created goes first: the ALTER PUBLICATION ... ADD statements after it
                # would not run twice
                todo.append(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(s.name)))
                todo.append(s.sql)
            else:
                todo.append(s.sql)
        execute_in_transaction(conn, todo, "triggers and foreign keys")
    failures = check_foreign_keys(target_ep, check_order(checks, plan), parallelism(params),
                                  INDEX_SESSION["maintenance_work_mem"])
    if failures:
        raise DdlError("foreign keys left NOT VALID (or, on partitioned tables, not created) because rows break "
                       "them:\n  " + "\n  ".join(failures))
    log.info("triggers and foreign keys: %d statement(s), %d foreign key(s) checked", len(todo), len(checks))
    return {"index_statements": leftovers, "statements": len(todo), "validated_foreign_keys": len(checks),
            "warnings": index_warnings + warnings}
