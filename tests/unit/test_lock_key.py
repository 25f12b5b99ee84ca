"""The advisory lock that finds the last lane loading a split table is one per table, unambiguously."""
from include.pgferry.logical.table_finisher import LOCK_CLASS, lock_key
from include.pgferry.model import QualifiedName


def test_a_dot_inside_a_name_does_not_make_two_tables_share_a_lock():
    assert lock_key(QualifiedName("a.b", "c")) != lock_key(QualifiedName("a", "b.c"))


def test_a_quote_inside_a_name_does_not_either():
    assert lock_key(QualifiedName('a"."b', "c")) != lock_key(QualifiedName("a", 'b"."c'))


def test_the_key_is_pgferrys_class_and_the_quoted_name():
    assert lock_key(QualifiedName("app", "Orders")) == (LOCK_CLASS, '"app"."Orders"')
