"""Every session's dead-peer bound (pg/endpoint): pgferry's default, the Param, then the connection's extras."""
from psycopg.conninfo import conninfo_to_dict

from include.pgferry.pg import endpoint
from include.pgferry.pg.endpoint import PgEndpoint, configure_dead_peer, dead_peer_settings


def psycopg_params(ep, monkeypatch) -> dict:
    seen = {}
    monkeypatch.setattr("psycopg.connect", lambda **kw: seen.update(kw))
    ep.connect()
    return seen


def test_the_default_bound_is_about_a_minute_on_both_ends(monkeypatch):
    configure_dead_peer(None)
    p = psycopg_params(PgEndpoint("s", "h", 5432, "d", "u"), monkeypatch)
    assert (p["keepalives"], p["tcp_user_timeout"]) == ("1", "60000")
    idle, interval, count = (int(p[k]) for k in ("keepalives_idle", "keepalives_interval", "keepalives_count"))
    assert 45 <= idle + interval * count <= 60
    assert "-c tcp_keepalives_idle=30" in p["options"] and "-c tcp_user_timeout=60000" in p["options"]


def test_the_param_sets_the_bound_and_the_connection_extras_win(monkeypatch):
    try:
        configure_dead_peer(10)
        ep = PgEndpoint("s", "h", 5432, "d", "u", libpq_extra=(("tcp_user_timeout", "2500"),
                                                             ("options", "-c tcp_keepalives_idle=3")))
        p = psycopg_params(ep, monkeypatch)
        assert p["tcp_user_timeout"] == "2500" and p["keepalives_idle"] == "5"
        # the server reads the last setting of a name: the connection's own options come last
        assert p["options"].endswith("-c tcp_keepalives_idle=3")
        assert "-c tcp_user_timeout=10000" in p["options"]
        d = conninfo_to_dict(ep.tool_conninfo())
        assert d["tcp_user_timeout"] == "2500" and "tcp_user_timeout" not in d["options"]
    finally:
        configure_dead_peer(None)
    assert endpoint._dead_peer_s == endpoint.DEAD_PEER_S


def test_a_server_without_tcp_user_timeout_gets_the_keepalives_only(monkeypatch):
    import psycopg
    seen = []

    def connect(**kw):
        seen.append(kw["options"])
        if "tcp_user_timeout" in kw["options"]:
            raise psycopg.OperationalError('FATAL:  unrecognized configuration parameter "tcp_user_timeout"')
        return "conn"

    monkeypatch.setattr("psycopg.connect", connect)
    assert PgEndpoint("s", "h", 5432, "d", "u").connect() == "conn"
    assert "tcp_user_timeout" not in seen[-1] and "tcp_keepalives_count=5" in seen[-1]


def test_small_bounds_stay_valid():
    s = dead_peer_settings(5)
    assert min(s.values()) >= 1 and s["tcp_user_timeout"] == 5000
