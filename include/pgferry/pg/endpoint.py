"""Database endpoints from Airflow connections (postgres provider), for psycopg 3 and libpq tools.

psycopg and pg_dump connect with the same libpq parameters (every libpq extra of the connection: TLS
files and modes, keepalives, target_session_attrs, ...): `libpq_params` builds them once; psycopg takes
them as keywords, pg_dump as a conninfo string made by psycopg's own `make_conninfo`. Passwords stay
inside the connection: psycopg gets them as a keyword, pg_dump through the PGPASSWORD environment
variable, never on a command line, in a log or in XCom.

Dead peers: a flow that a NAT or firewall drops keeps its sockets open, and a COPY on it would wait for
ever. Every session therefore gets TCP keepalives and `tcp_user_timeout` on both ends: libpq's parameters
on the client (pgferry's socket), and the server's GUCs of the same names through `options` (the backend's
socket, so an orphaned backend ends and frees its locks). The bound is `dead_peer_s` (Param
`dead_peer_timeout_s`, set per task by `configure_dead_peer`; default DEAD_PEER_S). Precedence, lowest
first: pgferry's default, the Param, then the connection's own extras (keepalives, keepalives_idle,
keepalives_interval, keepalives_count, tcp_user_timeout, options), which pass through as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg.conninfo import make_conninfo

from include.pgferry.pg import session_names

# Extras of the postgres provider that are not libpq parameters.
_NON_LIBPQ_EXTRAS = {"iam", "redshift", "redshift-serverless", "cursor", "cluster-identifier",
                     "workgroup-name", "aws_conn_id", "sqlalchemy_scheme", "sqlalchemy_options",
                     "sqlalchemy_query", "enable_log_db_messages", "azure_conn_id"}

# Session settings that make both sides render values identically (checksums), and make every commit pgferry
# is told of durable even where the server's default is synchronous_commit=off: a later step (or the slot's
# confirmed position) relies on it, and a target crash would otherwise lose a commit already recorded as done.
CONNECT_TIMEOUT_S = 15
DURABLE_COMMITS = "-c synchronous_commit=on"
SESSION_OPTIONS = f"-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 {DURABLE_COMMITS}"

# A peer that stops answering is given up after about this many seconds (both ends of every session).
DEAD_PEER_S = 60
_dead_peer_s = DEAD_PEER_S


def configure_dead_peer(seconds: int | None):
    """The dead-peer bound of the sessions this task process opens (Param `dead_peer_timeout_s`)."""
    global _dead_peer_s
    _dead_peer_s = int(seconds) if seconds else DEAD_PEER_S


def dead_peer_settings(seconds: int) -> dict[str, int]:
    """Keepalives that give up an idle peer after about `seconds` (idle + interval * count), and a
    tcp_user_timeout (ms) that gives up unacknowledged data after `seconds`."""
    idle = max(1, seconds // 2)
    count = 5
    interval = max(1, (seconds - idle) // count)
    return {"keepalives_idle": idle, "keepalives_interval": interval, "keepalives_count": count,
            "tcp_user_timeout": seconds * 1000}


def client_dead_peer_params(seconds: int) -> dict[str, str]:
    """libpq's parameters for the client socket."""
    return {"keepalives": "1", **{k: str(v) for k, v in dead_peer_settings(seconds).items()}}


def server_dead_peer_options(seconds: int, user_timeout: bool = True) -> str:
    """The same bound for the server's socket: GUCs any user may set for their session (tcp_user_timeout
    only from PostgreSQL 12; `user_timeout=False` leaves it out for older servers)."""
    names = {"keepalives_idle": "tcp_keepalives_idle", "keepalives_interval": "tcp_keepalives_interval",
             "keepalives_count": "tcp_keepalives_count", "tcp_user_timeout": "tcp_user_timeout"}
    return " ".join(f"-c {names[k]}={v}" for k, v in dead_peer_settings(seconds).items()
                    if user_timeout or k != "tcp_user_timeout")


class ConnectionSettingsError(ValueError):
    """The Airflow connection itself is unusable (type, database): a retry cannot heal it."""


@dataclass(frozen=True)
class PgEndpoint:
    conn_id: str
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    libpq_extra: tuple = ()

    @classmethod
    def from_conn_id(cls, conn_id: str) -> "PgEndpoint":
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        hook = PostgresHook(postgres_conn_id=conn_id)
        conn = hook.connection
        if conn.conn_type not in ("postgres", "postgresql"):
            raise ConnectionSettingsError(f"Airflow connection {conn_id!r} has type {conn.conn_type!r}; pgferry needs a "
                             f"'postgres' connection")
        login, password, port = conn.login, conn.password, conn.port
        extra = conn.extra_dejson
        if extra.get("iam"):
            login, password, port = hook.get_iam_token(conn)
        if not conn.schema:
            raise ConnectionSettingsError(f"Airflow connection {conn_id!r} has no database: put it in the connection's "
                             f"'schema' (database) field")
        libpq = tuple(sorted((k, str(v)) for k, v in extra.items() if k not in _NON_LIBPQ_EXTRAS))
        return cls(conn_id=conn_id, host=conn.host or "localhost", port=int(port or 5432), dbname=conn.schema,
                   user=login or "", password=password, libpq_extra=libpq)

    def describe(self) -> str:
        """Where this endpoint points, without secrets."""
        return f"{self.conn_id} ({self.user}@{self.host}:{self.port}/{self.dbname})"

    def libpq_params(self, application_name: str = "pgferry", **overrides) -> dict:
        """The libpq parameters of this endpoint, without the password: the dead-peer defaults, then the
        connection's extras, then this endpoint's own fields and `overrides`. A "pgferry <role>" name gets
        the running task's identity (pg/session_names.py), so a retry can find its earlier tries' sessions."""
        params = client_dead_peer_params(_dead_peer_s)
        params.update(self.libpq_extra)
        params.update(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                      application_name=session_names.tagged(application_name), connect_timeout=CONNECT_TIMEOUT_S)
        params.update(overrides)
        return params

    def server_options(self, session_options: str = "", user_timeout: bool = True) -> str:
        """`options` for the server: the session settings, then the server-side dead-peer bound, then the
        connection's own `options` extra (last, so it wins)."""
        own = dict(self.libpq_extra).get("options", "")
        bound = server_dead_peer_options(_dead_peer_s, user_timeout)
        return " ".join(o for o in (session_options, bound, own) if o)

    def connect(self, autocommit: bool = False, application_name: str = "pgferry", options: str = SESSION_OPTIONS,
                **kwargs) -> psycopg.Connection:
        params = self.libpq_params(application_name, options=self.server_options(options), **kwargs)
        if self.password:
            params["password"] = self.password
        try:
            return psycopg.connect(autocommit=autocommit, **params)
        except psycopg.OperationalError as e:
            if "tcp_user_timeout" not in str(e):
                raise
            # a server older than PostgreSQL 12 has no tcp_user_timeout: its keepalives still apply
            params["options"] = self.server_options(options, user_timeout=False)
            return psycopg.connect(autocommit=autocommit, **params)

    def tool_conninfo(self, application_name: str = "pgferry") -> str:
        """What pg_dump gets as --dbname: the same parameters psycopg connects with, minus the session
        settings (pg_dump sets its own; it keeps the server-side keepalives, which every version has, and
        durable commits, so that pg_restore's DDL survives a crash of the target once the step ended) and the
        password (see `tool_env`)."""
        return make_conninfo("", **self.libpq_params(application_name,
                                                     options=self.server_options(DURABLE_COMMITS, user_timeout=False)))

    def tool_env(self) -> dict[str, str]:
        """Environment for pg_dump: only the password, so it never shows on a command line."""
        return {"PGPASSWORD": self.password} if self.password else {}


# Memory settings a session raises to help a build or a load, but never lowers below what the server's
# administrator already gave every session.
AT_LEAST = {"maintenance_work_mem", "work_mem"}


def apply_settings(conn: psycopg.Connection, settings: dict):
    """Session settings (SET for this session only); the memory ones only where they raise the server's value."""
    for name, value in settings.items():
        if name in AT_LEAST:
            conn.execute("SELECT set_config(%s, %s, false) WHERE pg_size_bytes(current_setting(%s)) < "
                         "pg_size_bytes(%s)", (name, str(value), name, str(value)))
        else:
            conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))


def switch_off_triggers(conn: psycopg.Connection, probe_only: bool = False) -> bool:
    """Set session_replication_role = replica (triggers and foreign keys do not fire), for this session,
    or with `probe_only` just find out whether this user may (superuser, rds_superuser, or SET granted)."""
    try:
        if probe_only:
            with conn.transaction(force_rollback=True):
                conn.execute("SET LOCAL session_replication_role = replica")
        else:
            conn.execute("SET session_replication_role = replica")
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False
