"""The exactness harness finds each kind of difference, and names the object, on small hand-made databases."""
import pytest

from tests.support.compare import compare_databases, schema_blocks
from tests.support.migration import unique_db
from tests.support.regression_db import pg_bindir  # the one import of the cluster helpers is there

pytestmark = pytest.mark.integration

FIXTURE = """
CREATE TABLE public.items (id int PRIMARY KEY, name text, price numeric, seen timestamptz, tags text[]);
INSERT INTO public.items VALUES (1, 'one', 1.5, '2026-01-01 10:00+00', '{a,b}'), (2, 'two', NULL, NULL, '{}'),
                                (3, 'three', 3, '2026-01-03 00:00+05', NULL), (4, 'dup', 4, NULL, NULL);
CREATE TABLE public.nocols ();
INSERT INTO public.nocols DEFAULT VALUES;
INSERT INTO public.nocols DEFAULT VALUES;
CREATE TABLE public.parent (a int, b text);
CREATE TABLE public.child (c int) INHERITS (public.parent);
INSERT INTO public.parent VALUES (1, 'p');
INSERT INTO public.child VALUES (2, 'c', 3);
CREATE SEQUENCE public.counter;
SELECT setval('public.counter', 42);
CREATE VIEW public.cheap AS SELECT id, name FROM public.items WHERE price < 2;
SELECT lo_from_bytea(91001, '\\x00010203');
"""


@pytest.fixture
def pair(pg_source, pg_target):
    """The same small database on both clusters: (source dsn, target dsn, run SQL on the target)."""
    src_db, tgt_db = unique_db("cmp_src"), unique_db("cmp_tgt")
    for cluster, db in ((pg_source, src_db), (pg_target, tgt_db)):
        cluster.recreate_db(db)
        with cluster.connect(db) as conn:
            conn.execute(FIXTURE)
    yield pg_source.dsn(src_db), pg_target.dsn(tgt_db), lambda q: pg_target.execute(q, tgt_db)
    pg_source.execute(f'DROP DATABASE IF EXISTS "{src_db}" WITH (FORCE)')
    pg_target.execute(f'DROP DATABASE IF EXISTS "{tgt_db}" WITH (FORCE)')


def compare(pair):
    return compare_databases(pair[0], pair[1], pg_bindir())


def test_identical_databases_compare_equal(pair):
    result = compare(pair)
    assert result.ok, result.text()
    assert (result.tables, result.rows, result.sequences, result.large_objects) == (4, 8, 1, 1)
    assert "no difference" in result.text()


def test_changed_row_is_found_and_shown(pair):
    pair[2]("UPDATE public.items SET name = 'TWO' WHERE id = 2")
    result = compare(pair)
    assert [(d.kind, d.name) for d in result.differences] == [("table", "public.items")]
    detail = result.differences[0].detail
    assert "same 4 rows counted, content differs" in detail
    assert "(2,two,,,{})" in detail and "(2,TWO,,,{})" in detail


def test_missing_row_is_found(pair):
    pair[2]("DELETE FROM public.items WHERE id = 4")
    result = compare(pair)
    assert [(d.kind, d.name) for d in result.differences] == [("table", "public.items")]
    assert "4 rows in source, 3 in target" in result.differences[0].detail


def test_row_count_of_a_table_without_columns_counts(pair):
    pair[2]("DELETE FROM public.nocols WHERE ctid = (SELECT min(ctid) FROM public.nocols)")
    result = compare(pair)
    assert [(d.name, d.detail.split(";")[0]) for d in result.differences] == [
        ("public.nocols", "2 rows in source, 1 in target")]


def test_parent_rows_compare_apart_from_the_childrens(pair):
    pair[2]("DELETE FROM ONLY public.parent; INSERT INTO public.child VALUES (1, 'p', NULL)")
    result = compare(pair)
    assert {d.name for d in result.differences} == {"public.parent", "public.child"}


def test_schema_difference_names_the_object(pair):
    pair[2]("CREATE OR REPLACE VIEW public.cheap AS SELECT id, name FROM public.items WHERE price < 3")
    result = compare(pair)
    assert [(d.kind, d.name) for d in result.differences] == [("schema", "VIEW public.cheap")]
    assert "price < (3)" in result.differences[0].detail


def test_missing_and_extra_objects_are_told_apart(pair):
    pair[2]("DROP VIEW public.cheap; CREATE TABLE public.extra (x int)")
    result = compare(pair)
    found = {(d.kind, d.name, d.detail) for d in result.differences}
    assert ("schema", "VIEW public.cheap", "missing in target") in found
    assert ("schema", "TABLE public.extra", "only in target") in found
    assert ("table", "public.extra", "only in target") in found


def test_column_order_difference_is_found(pair):
    # the same columns in another order: pg_dump's CREATE TABLE for an inheritance child does not list
    # inherited columns, so only the harness's own column check sees this
    pair[2]("DROP TABLE public.child; CREATE TABLE public.child (c int, a int, b text);"
            "ALTER TABLE public.child INHERIT public.parent; INSERT INTO public.child VALUES (3, 2, 'c')")
    result = compare(pair)
    table = [d for d in result.differences if d.kind == "table"]
    assert [(d.name, d.detail) for d in table] == [
        ("public.child", "column order differs: source ['a', 'b', 'c'], target ['c', 'a', 'b']")]


def test_sequence_difference_is_found(pair):
    pair[2]("SELECT setval('public.counter', 42, false)")
    result = compare(pair)
    assert [str(d) for d in result.differences] == [
        "sequence public.counter: (last_value, is_called) source (42, True), target (42, False)"]


def test_large_object_content_and_owner_differences_are_found(pair):
    pair[2]("SELECT lo_put(91001, 0, '\\xff'); CREATE ROLE cmp_lo_owner; ALTER LARGE OBJECT 91001 OWNER TO cmp_lo_owner")
    try:
        result = compare(pair)
        lo = [d for d in result.differences if d.kind == "large object"]
        assert [d.name for d in lo] == ["91001"]
        assert "owner 'postgres' -> 'cmp_lo_owner'" in lo[0].detail and "md5" in lo[0].detail
    finally:
        pair[2]("ALTER LARGE OBJECT 91001 OWNER TO postgres; DROP ROLE cmp_lo_owner")


def test_missing_large_object_is_found(pair):
    pair[2]("SELECT lo_unlink(91001)")
    result = compare(pair)
    assert [str(d) for d in result.differences if d.kind == "large object"] == ["large object 91001: missing in target"]


def test_schema_blocks_ignore_dump_specific_lines():
    dump_a = "\\restrict abc\n-- Dumped from database version 15.20\n-- Name: t; Type: TABLE; Schema: public; Owner: me\n" \
             "CREATE TABLE public.t ();\n\\unrestrict abc\n"
    dump_b = dump_a.replace("abc", "xyz").replace("15.20", "15.18")
    assert schema_blocks(dump_a) == schema_blocks(dump_b)
    assert list(schema_blocks(dump_a)) == ["(preamble)", "TABLE public.t"]


def test_owner_change_shows_both_header_lines(pair):
    pair[2]("CREATE ROLE cmp_view_owner; ALTER VIEW public.cheap OWNER TO cmp_view_owner")
    try:
        result = compare(pair)
        detail = {d.name: d.detail for d in result.differences}["VIEW public.cheap"]
        assert "-- Name: cheap; Type: VIEW; Schema: public; Owner: postgres" in detail
        assert "+-- Name: cheap; Type: VIEW; Schema: public; Owner: cmp_view_owner" in detail
    finally:
        pair[2]("ALTER VIEW public.cheap OWNER TO postgres; DROP ROLE cmp_view_owner")
