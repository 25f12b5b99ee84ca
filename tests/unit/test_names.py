import pytest

from include.pgferry.pg.names import (NameSyntaxError, ObjectSpec, display, dump_ident, parse_bare_name,
                                   parse_object_spec, parse_rename_key)


@pytest.mark.parametrize("text, spec", [
    ("app", ObjectSpec("app")),
    ("App.Orders", ObjectSpec("app", "orders")),
    ('"Sales"."Order Lines"', ObjectSpec("Sales", "Order Lines")),
    ('sales.orders(id, "From", Total)', ObjectSpec("sales", "orders", ("id", "From", "total"))),
    ('"a""b".c', ObjectSpec('a"b', "c")),
    ('"select"."from"', ObjectSpec("select", "from")),
    ("café.ünï", ObjectSpec("café", "ünï")),
    (' app . t ( a ,b ) ', ObjectSpec("app", "t", ("a", "b"))),
])
def test_object_specs_follow_postgresql_identifier_rules(text, spec):
    assert parse_object_spec(text) == spec


@pytest.mark.parametrize("text, words", [
    ("a..b", "expected an identifier"),
    ('"unterminated', "unterminated double quote"),
    ("a b", "unexpected 'b'"),
    ("1abc", "expected an identifier at position 1"),
    ("a.b.c", "at most 2 dot-separated names"),
    ("a(b)", "needs schema.table"),
    ("a.b(c, c)", "listed twice"),
    ("a.b(c", "expected ',' or ')'"),
    ('""', "empty quoted identifier"),
    ("", "empty entry"),
])
def test_bad_object_specs_say_what_is_wrong(text, words):
    with pytest.raises(NameSyntaxError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_object_spec(text)


def test_rename_keys_and_new_names():
    assert parse_rename_key('sales."Orders".Amount') == ("sales", "Orders", "amount")
    assert parse_bare_name('"New Name"', "rename x") == "New Name"
    with pytest.raises(NameSyntaxError, match="one bare name"):
        parse_bare_name("a.b", "rename x")
    with pytest.raises(NameSyntaxError, match="63-byte"):
        parse_bare_name("x" * 64, "rename x")


def test_display_quotes_only_where_postgresql_needs_it():
    assert display("app", "orders") == "app.orders"
    assert display("Sales", "order lines") == '"Sales"."order lines"'


def test_reserved_words_are_quoted():
    assert display("select", "from") == '"select"."from"'
    assert display("app", "user") == 'app."user"'
    assert display("app", "name") == "app.name"     # a keyword PostgreSQL does not reserve


@pytest.mark.parametrize("name, written", [
    ("orders", "orders"), ("_a1", "_a1"), ("name", "name"),          # unreserved keywords stay bare
    ("Order", '"Order"'), ("a b", '"a b"'), ("x$", '"x$"'), ("1a", '"1a"'),
    ("select", '"select"'), ("left", '"left"'), ("between", '"between"'), ("int", '"int"'),
])
def test_dump_ident_quotes_as_pg_dump_writes_its_tags(name, written):
    assert dump_ident(name) == written
