"""The run's list of units (logical/claims.py): what tells two units or two tables apart, and a lane's deadline
that grows with what it takes (logical/progress.py)."""
from dataclasses import replace

from include.pgferry.logical import claims, progress
from include.pgferry.model import KeyRange, QualifiedName, Unit


def unit(name="events", part="", key_range=None, nbytes=1000):
    return Unit(id=f"app.{name}{part}", oid=1, source=QualifiedName("app", name), target=QualifiedName("app", name),
                columns=("id",), target_columns=("id",), binary=True, range=key_range, bytes=nbytes)


def test_a_dot_inside_a_name_does_not_make_two_tables_one():
    assert claims.table_key(QualifiedName("a.b", "c")) != claims.table_key(QualifiedName("a", "b.c"))


def test_a_quote_inside_a_name_does_not_either():
    assert claims.table_key(QualifiedName('a"."b', "c")) != claims.table_key(QualifiedName("a", 'b"."c'))


def test_the_table_is_its_quoted_name():
    assert claims.table_key(QualifiedName("app", "Orders")) == '"app"."Orders"'


def test_the_digest_is_the_whole_unit():
    a = unit(part=" [1/2]", key_range=KeyRange("id", None, 100))
    assert claims.digest(a) == claims.digest(replace(a))
    assert claims.digest(a) != claims.digest(replace(a, range=KeyRange("id", None, 101)))
    assert claims.digest(a) != claims.digest(replace(a, binary=False))
    assert claims.digest(a) != claims.digest(replace(a, target_columns=("key",)))


def test_outside_airflow_a_lane_has_a_list_of_its_own():
    assert claims.run_of("00000003-1") is None
    assert claims.local_run() != claims.local_run()


def test_a_lane_that_takes_more_than_its_share_gets_more_time_for_it():
    now = [0.0]
    b = progress.start_lane("lane 1 of 2", 100_000_000, min_mb_per_s=1.0, clock=lambda: now[0])
    first = b.deadline
    progress.take(60_000_000, b)
    progress.take(40_000_000, b)
    assert b.deadline == first                   # its share: no change
    progress.take(50_000_000, b)                 # 50 MB beyond it: 50 s more at 1 MB/s
    assert b.deadline == first + 50 and b.lane_bytes == 150_000_000
