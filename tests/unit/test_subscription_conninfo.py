"""The connection string CREATE SUBSCRIPTION stores (online/subscription.py): every value survives libpq's own
parser (psycopg's conninfo_to_dict calls PQconninfoParse), whatever quotes, backslashes and spaces it holds,
and what pgferry logs never shows the password."""
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from include.pgferry.online import subscription as sub
from include.pgferry.pg.endpoint import PgEndpoint

HARD = ["it's", "back\\slash", "ends with \\", "\\'", "two  spaces", " lead and trail ", "a=b c=d", "''", "",
        "quote ' and \\ both", "dbname=other", "ünïcode pässwörd", "tab\there"]


@pytest.mark.parametrize("value", HARD)
def test_each_value_comes_back_from_libpq_unchanged(value):
    text = sub.conninfo({"host": "h", "password": value, "user": value})
    assert conninfo_to_dict(text) == {"host": "h", "password": value, "user": value}


def test_a_value_cannot_add_a_parameter():
    # unquoted, "x dbname=other" would set dbname: quoted, it stays the password
    assert conninfo_to_dict(sub.conninfo({"dbname": "mine", "password": "x dbname=other"})) == \
        {"dbname": "mine", "password": "x dbname=other"}


def test_the_quoting_is_libpqs_backslash_escapes():
    assert sub.conninfo_value("it's") == "'it\\'s'"
    assert sub.conninfo_value("a\\b") == "'a\\\\b'"
    assert sub.conninfo_value("") == "''"
    assert sub.conninfo_value(5432) == "'5432'"


def test_the_masked_form_hides_only_the_password():
    params = {"host": "db.example.com", "port": "5432", "dbname": "app", "user": "mig", "password": "s3cr'et\\"}
    shown = sub.masked(params)
    assert "s3cr" not in shown
    assert conninfo_to_dict(shown) == {**params, "password": sub.MASK}


def test_the_source_parameters_come_from_the_connection_with_the_address_the_target_sees():
    ep = PgEndpoint("src", "10.0.0.5", 6432, "my db", "mig user", "pw ' \\",
                    (("sslmode", "require"), ("sslrootcert", "/worker/only/root.crt"), ("keepalives_idle", "30")))
    params = sub.source_params(ep)
    assert conninfo_to_dict(sub.conninfo(params)) == {
        "host": "10.0.0.5", "port": "6432", "dbname": "my db", "user": "mig user", "connect_timeout": "15",
        "sslmode": "require", "password": "pw ' \\"}      # file paths of the worker are not the target's
    seen = sub.source_params(ep, host="source.internal", port=5433)
    assert (seen["host"], seen["port"]) == ("source.internal", "5433")


def test_a_connection_without_password_gives_no_password_parameter():
    params = sub.source_params(PgEndpoint("src", "127.0.0.1", 5432, "db", "postgres"))
    assert "password" not in params and "password" not in sub.conninfo(params)


def test_the_statement_carries_the_string_as_one_sql_literal():
    text = sub.conninfo({"host": "h", "password": "it's \\ here"})
    literal = sql.Literal(text).as_string(None)
    # the SQL literal's own quoting (quotes doubled, E'' for backslashes) decodes back to the same string
    assert literal.startswith(" E'") or literal.startswith("E'")
    assert literal.strip()[2:-1].replace("''", "'").replace("\\\\", "\\") == text


def test_the_engine_param_is_checked():
    assert sub.engine_of({}) == "pgferry" and sub.engine_of({"apply_engine": "subscription"}) == "subscription"
    with pytest.raises(sub.SubscriptionError, match="choose one of pgferry, subscription"):
        sub.engine_of({"apply_engine": "pglogical"})
