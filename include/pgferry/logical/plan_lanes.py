"""Task `plan_lanes`: the run's work units, and the post-data statements of the later steps.

The units go into the target's list of the run (logical/claims.py), from which every copy lane takes the
largest one left; the XCom value is still one share per lane (dealt longest first): it sets how many lanes
run, and a lane loads its share when the list is gone (a cleared lane after finalize).

Both read only the source (the list is written in a schema of its own on the target), so this runs while
the structure is restored. In online mode (`state["snapshot"]`,
the run's exported snapshot) the post-data is dumped as of the run's starting point, as structure's pre-data
is: an index made or dropped on the source during the load does not change the plan. The post-data statements come
from one schema dump and are described once here, from the parse trees the rewrite already holds
(what each creates, on which table); the lanes, the keys step and finalize read those fields and never
parse the SQL again.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from include.pgferry.logical import claims
from include.pgferry.logical.common import client_tools, endpoints, parallelism, wants
from include.pgferry.logical.units import plan_units
from include.pgferry.model import TABLE_BUILDS, Lane, Plan, PostData, QualifiedName
from include.pgferry.pg.catalog import setting_names
from include.pgferry.pg.ddl import RenameContext, SchemaArchive, rewrite

log = logging.getLogger("pgferry")

POST_DATA_PHASES = ("indexes", "final", "event_triggers")


def plan_lanes(params: dict, state: dict) -> dict:
    """{"lanes": [lane, ...], "post_data": {phase: {statements, warnings}}}, both in their XCom forms."""
    post_data = post_data_statements(params, state) if wants(params, "structure") else PostData()
    if not wants(params, "data"):
        log.info("data not in migration_types: nothing to copy")
        return {"lanes": [], "post_data": post_data.to_xcom()}
    source_ep, _ = endpoints(params)
    with source_ep.connect(autocommit=True) as source:
        lanes = plan_units(source, Plan.from_xcom(state["plan"]), parallelism(params), state["binary_copy"])
    lanes = [lane for lane in lanes if lane.units]
    if post_data:
        lanes = attach_index_builds(post_data, lanes)
    units = sorted((u for lane in lanes for u in lane.units), key=lambda u: (-u.bytes, u.id))
    run = claims.run_of(state.get("snapshot"))
    if run is not None and units:
        # every unit of the run, for whichever lane is free (a retry of this task: the same units, or refused)
        _, target_ep = endpoints(params)
        with target_ep.connect(autocommit=True, application_name="pgferry plan_lanes") as target:
            new = claims.register(target, run, units, exact=True)
        log.info("%d unit(s), %.1f MB, in %s (run '%s'%s): the %d lane(s) take them largest first, each the "
                 "largest left when it is free: %s", len(units), sum(u.bytes for u in units) / 1e6, claims.CLAIMS,
                 run, "" if new == len(units) else f"; written by an earlier try, {len(units) - new} checked",
                 len(lanes), ", ".join(u.id for u in units[:8]) + (" ..." if len(units) > 8 else ""))
    for i, lane in enumerate(lanes):
        log.info("lane %d's share (what it takes when the list is gone, after finalize): %d unit(s), %.1f MB",
                 i + 1, len(lane.units), lane.bytes / 1e6)
    return {"lanes": [lane.to_xcom() for lane in lanes], "post_data": post_data.to_xcom()}


def post_data_statements(params: dict, state: dict) -> PostData:
    """Each post-data phase's statements, renamed and described, from one schema dump."""
    source_ep, target_ep = endpoints(params)
    plan = Plan.from_xcom(state["plan"])
    # post-data holds no schema statements, so which target schemas exist does not change its text
    ctx = RenameContext.from_plan(plan)
    with target_ep.connect(autocommit=True, application_name="pgferry plan_lanes") as target:
        known = setting_names(target)
    phases = {}
    # an online run's own publication is the source's, for as long as the run follows it: never the target's
    own_publication = (state.get("online") or {}).get("publication")
    with SchemaArchive(source_ep, plan, client_tools(state), params.get("keep_owners", True),
                       state.get("snapshot"), own_publication=own_publication) as archive:
        for phase in POST_DATA_PHASES:
            entries = archive.phase_entries(phase)
            result = rewrite(archive.sql(entries), ctx, rename_columns=True, known_settings=known)
            phases[phase] = (tuple(result.described(entries)), tuple(result.warnings))
    return PostData(phases)


def attach_index_builds(post_data: PostData, lanes: list[Lane]) -> list[Lane]:
    """Give each unit the index and constraint builds of its table, so a lane builds them as soon as the
    table is loaded, while other lanes still copy (the keys step then only finds leftovers). Only builds
    that need nothing but the table: one that depends on another post-data object (as an index on a
    materialized view created after the keys does) is left to the keys step, which creates post-data
    objects in pg_dump's dependency order."""
    post = {s.dump_id for phase in post_data.phases for s in post_data.statements(phase) if s.dump_id is not None}
    by_table: dict[QualifiedName, list] = {}
    for s in post_data.statements("indexes"):
        if s.kind in TABLE_BUILDS and not set(s.depends_on) & post:
            by_table.setdefault(s.table, []).append(s)
    parts: dict[QualifiedName, int] = {}
    for lane in lanes:
        for u in lane.units:
            parts[u.target] = parts.get(u.target, 0) + 1
    return [Lane(tuple(replace(u, index_builds=tuple(by_table.get(u.target, ())), table_parts=parts[u.target])
                       for u in lane.units)) for lane in lanes]
