"""Cutting a table without a single-column integer key into block ranges (logical/units.py): the ranges'
arithmetic, the cut's digest, the version rule, and how a block-range unit reads and is named."""
import random

from include.pgferry.logical.copying import source_copy_statement
from include.pgferry.logical.lane_retry import describe_unit
from include.pgferry.logical.units import (TID_RANGE_SCAN_FROM, block_bounds, block_units, cut_digest,
                                           splits_by_blocks)
from include.pgferry.model import BlockRange, Column, QualifiedName, Relation, Unit


def relation(columns=("id", "payload"), target="events") -> Relation:
    return Relation(oid=42, source=QualifiedName("app", "events"), target=QualifiedName("app", target), relkind="r",
                    bytes=300 * 8192, columns=tuple(Column(c, c, "text", 25, True, "", "") for c in columns))


def test_ranges_start_at_block_zero_end_open_and_divide_the_blocks_evenly():
    assert block_bounds(100, 4) == [(0, 25), (25, 50), (50, 75), (75, None)]
    assert block_bounds(7, 3) == [(0, 2), (2, 4), (4, None)]
    assert block_bounds(10, 3) == [(0, 3), (3, 6), (6, None)]


def test_a_table_with_fewer_blocks_than_parts_gets_one_range_per_block_and_an_empty_one_stays_whole():
    assert block_bounds(2, 5) == [(0, 1), (1, None)]
    assert block_bounds(1, 3) == [(0, None)]
    assert block_bounds(0, 3) == [(0, None)]


def test_ranges_are_contiguous_nonempty_and_cover_every_block_for_any_size():
    rng = random.Random(19)
    for _ in range(2000):
        blocks, parts = rng.randint(0, 100_000), rng.randint(1, 64)
        bounds = block_bounds(blocks, parts)
        assert bounds[0][0] == 0 and bounds[-1][1] is None
        assert len(bounds) == max(1, min(parts, blocks))
        for (lo, hi), (next_lo, _) in zip(bounds, bounds[1:]):
            assert hi == next_lo and lo < hi
        sizes = [hi - lo for lo, hi in bounds[:-1]] + [blocks - bounds[-1][0]]
        assert max(sizes) - min(sizes) <= 1, (blocks, parts, sizes)


def test_the_cut_digest_names_table_columns_and_ranges():
    bounds = block_bounds(300, 3)
    assert cut_digest(relation(), bounds) == cut_digest(relation(), list(bounds))
    assert cut_digest(relation(), bounds) != cut_digest(relation(), block_bounds(300, 4))
    assert cut_digest(relation(), bounds) != cut_digest(relation(("id",)), bounds)
    assert cut_digest(relation(), bounds) != cut_digest(relation(target="events_new"), bounds)


def test_block_units_share_one_cut_and_split_the_estimate():
    units = block_units(relation(), True, blocks=300, parts=3)
    assert [u.id for u in units] == ["app.events [1/3]", "app.events [2/3]", "app.events [3/3]"]
    assert [(u.blocks.lo, u.blocks.hi) for u in units] == [(0, 100), (100, 200), (200, None)]
    assert len({u.blocks.cut for u in units}) == 1 and all(u.range is None and not u.whole for u in units)
    assert sum(u.bytes for u in units) == relation().bytes
    whole = block_units(relation(), True, blocks=1, parts=3)
    assert len(whole) == 1 and whole[0].whole and whole[0].id == "app.events"


def test_block_ranges_need_a_tid_range_scan_postgresql_14():
    assert TID_RANGE_SCAN_FROM == 140000
    assert not splits_by_blocks(130023) and splits_by_blocks(140000) and splits_by_blocks(170002)


def test_a_block_unit_reads_its_ctid_range_and_travels_through_xcom():
    unit = block_units(relation(), False, blocks=300, parts=3)
    text = [source_copy_statement(u).as_string(None) for u in unit]
    assert text[0] == ('COPY (SELECT "id", "payload" FROM ONLY "app"."events" WHERE ctid >= \'(0,0)\'::tid '
                       'AND ctid < \'(100,0)\'::tid) TO STDOUT')
    assert text[2].endswith("WHERE ctid >= '(200,0)'::tid) TO STDOUT")
    assert Unit.from_xcom(unit[1].to_xcom()) == unit[1]
    assert unit[1].blocks == BlockRange(100, 200, unit[1].blocks.cut)
    assert describe_unit(unit[1]) == "unit app.events [2/3] (blocks 100..199)"
    assert describe_unit(unit[2]) == "unit app.events [3/3] (blocks 200..end)"
