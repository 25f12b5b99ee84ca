"""When a table is cut into key ranges: only when clearly above a lane's fair share."""
from include.pgferry.logical.units import MIN_SPLIT_BYTES, SPLIT_TOLERANCE, split_parts

GB = 1024 ** 3


def test_a_table_just_above_its_fair_share_stays_whole_and_loads_with_freeze():
    # the 5 GB benchmark: pgbench_accounts 2.69 GB of 5.3 GB over two lanes (share 2.65 GB)
    assert split_parts(int(2.69 * GB), int(5.3 * GB), lanes=2) == 1
    share = int(5.3 * GB) // 2
    assert split_parts(int(share * SPLIT_TOLERANCE), int(5.3 * GB), lanes=2) == 1


def test_a_table_clearly_above_its_share_is_cut_into_half_shares():
    total = 4 * GB
    assert split_parts(3 * GB, total, lanes=2) == 3        # 3 GB in pieces of about 1 GB (half a 2 GB share)
    assert split_parts(3 * GB, total, lanes=4) == 6
    assert split_parts(int(2 * GB * SPLIT_TOLERANCE) + 1, total, lanes=2) == 3


def test_small_databases_are_not_cut_below_the_minimum_piece():
    assert split_parts(60 * 1024 * 1024, 100 * 1024 * 1024, lanes=2) == 1
    assert split_parts(int(MIN_SPLIT_BYTES * SPLIT_TOLERANCE) + 1, 100 * 1024 * 1024, lanes=2) == 3


def test_an_explicit_split_size_cuts_at_that_size():
    assert split_parts(100 * 1024 * 1024, 100 * 1024 * 1024, lanes=1, split_bytes=30 * 1024 * 1024) == 7
    assert split_parts(20 * 1024 * 1024, 100 * 1024 * 1024, lanes=1, split_bytes=30 * 1024 * 1024) == 1


def test_never_more_than_64_pieces():
    assert split_parts(100 * GB, 100 * GB, lanes=1, split_bytes=MIN_SPLIT_BYTES) == 64
