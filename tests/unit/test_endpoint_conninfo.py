"""pg_dump connects with the very libpq parameters psycopg does (pg/endpoint.PgEndpoint)."""
from psycopg.conninfo import conninfo_to_dict

from include.pgferry.pg.endpoint import DURABLE_COMMITS, SESSION_OPTIONS, PgEndpoint, server_dead_peer_options

EXTRA = (("keepalives_idle", "30"), ("sslcert", "/c/client.crt"), ("sslcrl", "/c/crl.pem"), ("sslkey", "/c/k"),
         ("sslmode", "verify-full"), ("sslrootcert", "/c/root.crt"), ("sslsni", "1"), ("tcp_user_timeout", "60000"))
EP = PgEndpoint("src", "db.example.com", 6432, "my db", "mig user", "s3cret pw", EXTRA)


def psycopg_params(ep, monkeypatch) -> dict:
    seen = {}
    monkeypatch.setattr("psycopg.connect", lambda **kw: seen.update(kw))
    ep.connect(application_name="pgferry schema dump")
    return seen


def test_pg_dump_gets_every_libpq_extra_psycopg_gets(monkeypatch):
    for_psycopg = psycopg_params(EP, monkeypatch)
    for_pg_dump = conninfo_to_dict(EP.tool_conninfo("pgferry schema dump"))
    # the same parameters, values as text; psycopg alone gets the session options and the password
    expected = {k: str(v) for k, v in for_psycopg.items() if k not in ("autocommit", "options", "password")}
    assert {k: v for k, v in for_pg_dump.items() if k != "options"} == expected
    assert for_psycopg["options"].startswith(SESSION_OPTIONS + " -c tcp_keepalives_idle=")
    assert for_pg_dump["options"] == DURABLE_COMMITS + " " + server_dead_peer_options(60, user_timeout=False)
    assert {"sslcrl", "sslsni", "tcp_user_timeout", "keepalives_idle"} <= set(for_pg_dump)   # beyond the old five


def test_the_password_goes_to_pg_dump_only_by_environment():
    assert "s3cret" not in EP.tool_conninfo()
    assert EP.tool_env() == {"PGPASSWORD": "s3cret pw"}
    assert PgEndpoint("t", "h", 5432, "d", "u").tool_env() == {}


def test_names_with_spaces_survive_the_conninfo_string():
    d = conninfo_to_dict(EP.tool_conninfo())
    assert (d["dbname"], d["user"], d["host"], d["port"]) == ("my db", "mig user", "db.example.com", "6432")
