"""Task `large_objects`: every large object of the source, with its OID, owner, privileges and comment.

Large objects belong to the database, not to a schema: like pg_dump, which dumps them only when no
schema or table is chosen, pgferry moves them when the whole database is migrated (no `objects`).
They are copied in batches on `parallelism` sessions, each batch in one target transaction that first
unlinks the batch's OIDs on the target: a retry never meets "already exists" and never keeps half an
object. The content streams in chunks (`lo_get`/`lo_put` with offsets): memory stays bounded whatever
an object's size. Owners and privileges follow `keep_owners`, as for every other object.
"""
from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql

from include.pgferry.logical.common import endpoints, parallelism, wants
from include.pgferry.model import Plan
from include.pgferry.pg import durability
from include.pgferry.pg.catalog import fetch
from include.pgferry.pg.parallel import run_longest_first

log = logging.getLogger("pgferry")

CHUNK = 1024 * 1024     # bytes read from the source and written to the target per call
BATCH = 200             # large objects per target transaction (each one takes a lock until commit)


def grant_statements(oid: int, owner: str, grants: list[dict]) -> list[sql.Composed]:
    """The statements that give large object `oid` exactly the source's ACL: defaults taken away, then
    each grantee's privileges in the ACL's own order (what pg_dump emits too)."""
    lo = sql.Literal(oid)
    out = [sql.SQL("REVOKE ALL ON LARGE OBJECT {} FROM PUBLIC").format(lo),
           sql.SQL("REVOKE ALL ON LARGE OBJECT {} FROM {}").format(lo, sql.Identifier(owner))]
    for g in grants:
        who = sql.SQL("PUBLIC") if g["grantee"] is None else sql.Identifier(g["grantee"])
        if g["privileges"]:
            out.append(sql.SQL("GRANT {} ON LARGE OBJECT {} TO {}").format(sql.SQL(g["privileges"]), lo, who))
        if g["grantable"]:
            out.append(sql.SQL("GRANT {} ON LARGE OBJECT {} TO {} WITH GRANT OPTION").format(
                sql.SQL(g["grantable"]), lo, who))
    return out


def copy_content(source: psycopg.Connection, target: psycopg.Connection, oid: int) -> int:
    offset = 0
    while True:
        chunk = source.execute("SELECT lo_get(%s::oid, %s, %s)", (oid, offset, CHUNK)).fetchone()[0]
        if chunk:
            target.execute("SELECT lo_put(%s::oid, %s, %s)", (oid, offset, chunk))
            offset += len(chunk)
        if not chunk or len(chunk) < CHUNK:
            return offset


def copy_batch(source: psycopg.Connection, target: psycopg.Connection, batch: list[dict], keep_owners: bool) -> int:
    """One batch in one target transaction: unlink what an earlier try left, create, fill, own, grant."""
    oids = [lo["oid"] for lo in batch]
    grants: dict[int, list[dict]] = {}
    if keep_owners:
        for g in fetch(source, "list_large_object_grants", oids=oids):
            grants.setdefault(g["oid"], []).append(g)
    moved = 0
    with target.transaction():
        target.execute("SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid = ANY (%s::oid[])", (oids,))
        for lo in batch:
            target.execute("SELECT lo_create(%s::oid)", (lo["oid"],))
            moved += copy_content(source, target, lo["oid"])
            if keep_owners:
                target.execute(sql.SQL("ALTER LARGE OBJECT {} OWNER TO {}").format(
                    sql.Literal(lo["oid"]), sql.Identifier(lo["owner"])))
                if lo["acl"] is not None:
                    for stmt in grant_statements(lo["oid"], lo["owner"], grants.get(lo["oid"], [])):
                        target.execute(stmt)
            if lo["comment"] is not None:
                target.execute(sql.SQL("COMMENT ON LARGE OBJECT {} IS {}").format(
                    sql.Literal(lo["oid"]), sql.Literal(lo["comment"])))
    return moved


def migrated(params: dict, plan: Plan) -> bool:
    """Large objects move with the whole database's data, as in pg_dump."""
    return plan.whole_database and wants(params, "data")


def large_objects(params: dict, state: dict) -> dict:
    plan = Plan.from_xcom(state["plan"])
    if not migrated(params, plan):
        log.info("large objects: not migrated (they move with the whole database's data, as with pg_dump)")
        return {"large_objects": 0, "skipped": True}
    source_ep, target_ep = endpoints(params)
    keep_owners = params.get("keep_owners", True)
    with source_ep.connect(autocommit=True) as source:
        objects = fetch(source, "list_large_objects")
    if not objects:
        return {"large_objects": 0, "bytes": 0}
    t0 = time.monotonic()
    batches = [objects[i:i + BATCH] for i in range(0, len(objects), BATCH)]

    class Sessions:
        def __enter__(self):
            self.source = source_ep.connect(autocommit=True, application_name="pgferry large objects")
            self.target = target_ep.connect(autocommit=True, application_name="pgferry large objects")
            self.target.execute("SET synchronous_commit = off")
            return self

        def __exit__(self, *exc):
            self.source.close()
            self.target.close()

    moved = run_longest_first(batches, parallelism(params), Sessions,
                              lambda s, batch: copy_batch(s.source, s.target, batch, keep_owners))
    with target_ep.connect(autocommit=True) as target:   # the batches committed asynchronously
        durability.flush_commits(target)
    seconds = time.monotonic() - t0
    log.info("large objects: %d (%.1f MB) in %d batch(es) in %.1f s", len(objects), sum(moved) / 1e6, len(batches),
             seconds)
    return {"large_objects": len(objects), "bytes": sum(moved), "seconds": round(seconds, 3)}
