"""What every task of the logical migration reads from its Params."""
from __future__ import annotations

from include.pgferry.pg import client_tools as tools
from include.pgferry.pg.endpoint import PgEndpoint

# the session of index builds and foreign key checks: memory for sorts, parallel build workers (their commits
# stay synchronous: few, and each ends a build that no later step repeats)
INDEX_SESSION = {"maintenance_work_mem": "256MB", "max_parallel_maintenance_workers": "2"}


def endpoints(params: dict) -> tuple[PgEndpoint, PgEndpoint]:
    return PgEndpoint.from_conn_id(params["source_conn_id"]), PgEndpoint.from_conn_id(params["target_conn_id"])


def wants(params: dict, kind: str) -> bool:
    """Is `kind` ("structure", "data") among the run's migration_types?"""
    return kind in (params.get("migration_types") or ["structure", "data"])


def parallelism(params: dict) -> int:
    return int(params.get("parallelism", 2))


def client_tools(state: dict) -> tools.ClientTools:
    """The pg_dump/pg_restore of this run, picked on this worker from the servers precheck met."""
    versions = state.get("server_versions")
    if versions is None:   # a run whose precheck ran before pgferry recorded them: what it used then, the newest
        found = tools.installed()
        if not found:
            raise tools.NoClientTools("no pg_dump/pg_restore on this worker: install postgresql-client or set "
                                      "PG_BINDIR")
        return max(found, key=lambda t: t.major)
    return tools.for_servers(versions["source"], versions["target"])
