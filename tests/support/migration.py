"""Helpers to compare databases independently of pgferry's own checks (running DAGs: localstack.dagrun)."""
from __future__ import annotations

import subprocess
import uuid

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
