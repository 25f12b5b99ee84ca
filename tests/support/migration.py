"""Helpers to compare databases independently of pgferry's own checks (running DAGs: localstack.dagrun)."""
from __future__ import annotations

import subprocess
import uuid
from contextlib import contextmanager

from localstack.pgcluster import pg_bindir


def unique_db(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _pg_dump(cluster, dbname: str, *args: str) -> str:
    return subprocess.run([str(pg_bindir() / "pg_dump"), "-d", cluster.dsn(dbname), *args],
                          capture_output=True, text=True, check=True, timeout=600).stdout


def schema_lines(cluster, dbname: str, *args: str) -> list[str]:
    """pg_dump --schema-only without the lines that differ between any two dumps (restrict keys, versions)."""
    return [l for l in _pg_dump(cluster, dbname, "--schema-only", *args).splitlines()
            if not l.startswith("\\") and not l.startswith("-- Dumped")]


def data_rows(cluster, dbname: str, *args: str) -> list[str]:
    """Every row as an INSERT statement, sorted: order-free data comparison. The copy lanes' bookkeeping
    (schema pgferry_copy, which finalize removes) is not data."""
    out = _pg_dump(cluster, dbname, "--data-only", "--inserts", "--rows-per-insert=1",
                   "--exclude-schema=pgferry_copy", *args)
    return sorted(l for l in out.splitlines() if l.startswith("INSERT INTO"))


@contextmanager
def migrated_databases(source_cluster, target_cluster, prefix: str, source_sql: str, **params):
    """A source database made by `source_sql`, an empty target, their Airflow connections, and the logical
    DAG run between them (dag.test): yields (params, the precheck's state, source db, target db); both
    databases are dropped afterwards."""
    from localstack import airflow_env
    from localstack.dagrun import load_dag, run_dag, xcom_value
    source, target = unique_db(f"{prefix}_src"), unique_db(f"{prefix}_tgt")
    source_cluster.recreate_db(source)
    source_cluster.execute(source_sql, dbname=source)
    target_cluster.recreate_db(target)
    airflow_env.postgres_connection(f"pgferry_{prefix}_source", source_cluster.port, source)
    airflow_env.postgres_connection(f"pgferry_{prefix}_target", target_cluster.port, target)
    params = {"source_conn_id": f"pgferry_{prefix}_source", "target_conn_id": f"pgferry_{prefix}_target", **params}
    dr, states = run_dag(load_dag("postgres_logical_migration"), params)
    assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}
    try:
        yield params, xcom_value(dr, "precheck"), source, target
    finally:
        source_cluster.execute(f'DROP DATABASE IF EXISTS "{source}" WITH (FORCE)')
        target_cluster.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')

