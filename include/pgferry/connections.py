"""Database endpoints from Airflow connections (postgres provider), for psycopg 3 and libpq tools.

Passwords stay inside the connection: they are handed to psycopg as a keyword and to pg_dump /
pg_restore through the PGPASSWORD environment variable, never on a command line, in a log or in XCom.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

# Extras of the postgres provider that are not libpq parameters.
_NON_LIBPQ_EXTRAS = {"iam", "redshift", "redshift-serverless", "cursor", "cluster-identifier",
                     "workgroup-name", "aws_conn_id", "sqlalchemy_scheme", "sqlalchemy_options",
                     "sqlalchemy_query", "enable_log_db_messages", "azure_conn_id"}

# Session settings that make both sides render values identically (checksums) and keep a load fast.
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

    def connect(self, autocommit: bool = False, application_name: str = "pgferry", options: str = SESSION_OPTIONS,
                **kwargs) -> psycopg.Connection:
        params = dict(self.libpq_extra)
        params.update(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                      application_name=application_name, options=options, connect_timeout=15)
        if self.password:
            params["password"] = self.password
        params.update(kwargs)
        return psycopg.connect(autocommit=autocommit, **params)

    def libpq_env(self) -> dict[str, str]:
        """Environment for pg_dump/pg_restore/psql: the connection without a password on argv."""
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGDATABASE": self.dbname, "PGUSER": self.user,
               "PGAPPNAME": "pgferry", "PGCONNECT_TIMEOUT": "15"}
        if self.password:
            env["PGPASSWORD"] = self.password
        names = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
                 "sslkey": "PGSSLKEY", "target_session_attrs": "PGTARGETSESSIONATTRS"}
        for k, v in self.libpq_extra:
            if k in names:
                env[names[k]] = v
        return env


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
