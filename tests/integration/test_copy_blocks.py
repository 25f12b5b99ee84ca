"""copy_out_blocks: the client side of the data path drains libpq in runs of rows; blocks stay bounded."""
from __future__ import annotations

import pytest

from include.pgferry.logical import copying

pytestmark = pytest.mark.integration

WIDE = 128 * 1024   # bytes of a wide row, more than libpq's initial input buffer


@pytest.fixture(scope="module")
def mixed_widths_db(pg_source):
    pg_source.recreate_db("blocks")
    # narrow rows with a few wide ones among them (uncompressible, so they stay wide on the wire)
    pg_source.execute(f"""
        CREATE TABLE t (id int PRIMARY KEY, payload bytea);
        INSERT INTO t SELECT g, CASE WHEN g % 100 = 0
            THEN (SELECT string_agg(decode(md5(g::text || ':' || i), 'hex'), '') FROM generate_series(1, {WIDE // 16}) i)
            ELSE int4send(g) END
        FROM generate_series(1, 5000) g;
    """, dbname="blocks")
    return "blocks"


def copy_out(pg_source, db: str, statement: str, batch: int) -> tuple[bytes, list[int]]:
    """(what psycopg's own per-row reads give, the sizes of copy_out_blocks' blocks), asserting equal data."""
    with pg_source.connect(db) as conn:
        with conn.cursor().copy(statement) as cp:
            reference = b"".join(bytes(row) for row in cp)
        with conn.cursor().copy(statement):
            blocks = list(copying.copy_out_blocks(conn, batch=batch))
    assert b"".join(blocks) == reference
    return reference, [len(b) for b in blocks]


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_blocks_carry_exactly_the_rows_psycopg_reads(mixed_widths_db, pg_source, fmt):
    data, sizes = copy_out(pg_source, mixed_widths_db, f"COPY t TO STDOUT (FORMAT {fmt})", batch=64 * 1024)
    assert len(data) > 50 * WIDE                     # the wide rows came through
    assert all(s >= 64 * 1024 for s in sizes[:-1])   # full blocks, the last one holds the rest


def test_a_block_holds_no_more_than_libpq_had_buffered(mixed_widths_db, pg_source):
    """Memory stays flat: with a tiny batch every run of rows is a block, and a run only takes what libpq
    holds already (about the widest row so far), never DRAIN_ROWS rows read off the socket one by one,
    which here would pack several wide rows (one in every 100 rows) into one block."""
    _, sizes = copy_out(pg_source, mixed_widths_db, "COPY t TO STDOUT", batch=1)
    assert len(sizes) >= 50
    assert max(sizes) < 2 * (2 * WIDE)     # a wide row is 2x as hex text; libpq's buffer is at most ~2 rows


def test_an_empty_table_gives_no_block_and_the_connection_stays_usable(pg_source, mixed_widths_db):
    with pg_source.connect(mixed_widths_db) as conn:
        with conn.cursor().copy("COPY (SELECT * FROM t WHERE false) TO STDOUT"):
            assert list(copying.copy_out_blocks(conn, batch=1024)) == []
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (5000,)


def test_a_copy_failing_midway_raises_the_servers_error(pg_source, mixed_widths_db):
    import psycopg
    with pg_source.connect(mixed_widths_db) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            with conn.cursor().copy("COPY (SELECT id / (id - 4000) FROM t ORDER BY id) TO STDOUT"):
                for _ in copying.copy_out_blocks(conn, batch=1024):
                    pass
        assert conn.execute("SELECT 1").fetchone() == (1,)
