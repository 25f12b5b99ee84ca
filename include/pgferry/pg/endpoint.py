"""Database endpoints from Airflow connections (postgres provider), for psycopg 3 and libpq tools.

psycopg and pg_dump connect with the same libpq parameters (every libpq extra of the connection: TLS
files and modes, keepalives, target_session_attrs, ...): `libpq_params` builds them once; psycopg takes
them as keywords, pg_dump as a conninfo string made by psycopg's own `make_conninfo`. Passwords stay
inside the connection: psycopg gets them as a keyword, pg_dump through the PGPASSWORD environment
variable, never on a command line, in a log or in XCom.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg.conninfo import make_conninfo

# Extras of the postgres provider that are not libpq parameters.
_NON_LIBPQ_EXTRAS = {"iam", "redshift", "redshift-serverless", "cursor", "cluster-identifier",
                     "workgroup-name", "aws_conn_id", "sqlalchemy_scheme", "sqlalchemy_options",
                     "sqlalchemy_query", "enable_log_db_messages", "azure_conn_id"}

# Session settings that make both sides render values identically (checksums) and keep a load fast.
CONNECT_TIMEOUT_S = 15
SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3"


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
            raise ValueError(f"Airflow connection {conn_id!r} has type {conn.conn_type!r}; pgferry needs a "
                             f"'postgres' connection")
        login, password, port = conn.login, conn.password, conn.port
        extra = conn.extra_dejson
        if extra.get("iam"):
            login, password, port = hook.get_iam_token(conn)
        if not conn.schema:
            raise ValueError(f"Airflow connection {conn_id!r} has no database: put it in the connection's "
                             f"'schema' (database) field")
        libpq = tuple(sorted((k, str(v)) for k, v in extra.items() if k not in _NON_LIBPQ_EXTRAS))
        return cls(conn_id=conn_id, host=conn.host or "localhost", port=int(port or 5432), dbname=conn.schema,
                   user=login or "", password=password, libpq_extra=libpq)

    def describe(self) -> str:
        """Where this endpoint points, without secrets."""
        return f"{self.conn_id} ({self.user}@{self.host}:{self.port}/{self.dbname})"

    def libpq_params(self, application_name: str = "pgferry", **overrides) -> dict:
        """The libpq parameters of this endpoint, without the password."""
        params = dict(self.libpq_extra)
        params.update(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                      application_name=application_name, connect_timeout=CONNECT_TIMEOUT_S)
        params.update(overrides)
        return params

    def connect(self, autocommit: bool = False, application_name: str = "pgferry", options: str = SESSION_OPTIONS,
                **kwargs) -> psycopg.Connection:
        params = self.libpq_params(application_name, options=options, **kwargs)
        if self.password:
            params["password"] = self.password
        return psycopg.connect(autocommit=autocommit, **params)

    def tool_conninfo(self, application_name: str = "pgferry") -> str:
        """What pg_dump gets as --dbname: the same parameters psycopg connects with, minus the session
        options (pg_dump sets its own) and the password (see `tool_env`)."""
        return make_conninfo("", **self.libpq_params(application_name))

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
