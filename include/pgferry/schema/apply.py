"""Runs DDL statements on the target: in one transaction, or spread over parallel sessions."""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from include.pgferry.connections import PgEndpoint, apply_settings

log = logging.getLogger(__name__)


class DdlError(RuntimeError):
    pass


def _short(stmt) -> str:
    text = stmt if isinstance(stmt, str) else repr(stmt)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:300] + " ..."


def execute_in_transaction(conn: psycopg.Connection, statements, what: str):
    """All or nothing: a failure rolls back every statement and names the one that failed."""
    with conn.transaction():
        for stmt in statements:
            try:
                conn.execute(stmt)
            except psycopg.Error as e:
                raise DdlError(f"{what}: {e.diag.message_primary or e} -- while running: {_short(stmt)}") from e


def execute_parallel(target: PgEndpoint, statements: list, workers: int, what: str,
                     session_settings: dict | None = None) -> list[float]:
    """Independent statements (index builds) over `workers` sessions; every failure is reported."""
    if not statements:
        return []
    errors, durations = [], []

    def run(batch):
        with target.connect(autocommit=True, application_name=f"pgferry {what}") as conn:
            apply_settings(conn, session_settings or {})
            for stmt in batch:
                t0 = time.monotonic()
                try:
                    conn.execute(stmt)
                except psycopg.Error as e:
                    errors.append(f"{e.diag.message_primary or e} -- while running: {_short(stmt)}")
                durations.append(time.monotonic() - t0)

    workers = max(1, min(workers, len(statements)))
    batches = [statements[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, batches))
    if errors:
        raise DdlError(f"{what}: {len(errors)} statement(s) failed:\n" + "\n".join(errors))
    return durations
