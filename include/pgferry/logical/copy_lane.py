"""Task `copy_lane` (mapped, one per lane): each unit of the lane streamed with COPY, in turn.

Each unit clears its own rows first, in the transaction that loads it, so a retried lane never
duplicates. When a table is complete (its last unit; for a table cut into ranges, the last unit of all
lanes) the lane's finisher builds its indexes and constraints and analyzes it while the lane copies on.
"""
from __future__ import annotations

import logging
from collections import Counter
from contextlib import ExitStack

from include.pgferry.logical import copying, table_finisher
from include.pgferry.logical.common import INDEX_SESSION, endpoints
from include.pgferry.model import Lane

log = logging.getLogger("pgferry")


def lane_label(lane: list[dict]) -> str:
    """How the UI names a mapped copy task: its biggest unit and how many follow."""
    return Lane.from_xcom(lane).label


def copy_lane(params: dict, lane: list[dict]) -> list[dict]:
    """Copy the lane (its XCom form); the units' results, as the report reads them."""
    units = Lane.from_xcom(lane).units
    source_ep, target_ep = endpoints(params)
    results = []
    in_lane = Counter(u.target for u in units)
    remaining = Counter(in_lane)
    with ExitStack() as stack:
        source = stack.enter_context(source_ep.connect(autocommit=True, application_name="pgferry copy"))
        target = stack.enter_context(target_ep.connect(autocommit=True, application_name="pgferry copy"))
        finisher = stack.enter_context(table_finisher.TableFinisher(target_ep, INDEX_SESSION))
        triggers_off = copying.open_target_session(target)
        for unit in units:
            table = unit.target
            split = unit.table_parts > 1
            if split and remaining[table] == in_lane[table]:
                table_finisher.announce_part_loading(target, table)
            if not triggers_off:
                copying.check_no_triggers(target, unit)
            r = copying.copy_unit(source, target, unit)
            log.info("copied %s: %d rows, %.1f MB in %.1f s (%.1f MB/s)", r.id, r.rows, r.bytes / 1e6, r.seconds,
                     r.bytes / 1e6 / r.seconds if r.seconds else 0)
            result = r.as_dict()
            remaining[table] -= 1
            # the table is complete when this was its last unit (for a table cut into ranges: the last
            # unit of all lanes); its indexes are built while this lane copies the next table
            if remaining[table] == 0 and (not split or table_finisher.last_part_loaded(target, table)):
                finisher.submit(table, list(unit.index_builds), result)
            results.append(result)
        finisher.wait()
    return results
