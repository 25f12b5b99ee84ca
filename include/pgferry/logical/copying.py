"""Streams one work unit from source to target: COPY ... TO STDOUT into COPY ... FROM STDIN.

The target side runs in one transaction that first removes exactly the unit's rows (TRUNCATE for a
whole table, which also allows COPY FREEZE; DELETE of the key range, or of an extension configuration
table's filtered rows, otherwise), so a retried or
cleared unit never duplicates rows. A block range of a table cannot be found again on the target (its rows
have no relation to source ctids): its transaction records the range as loaded (logical/loaded_blocks.py)
together with its COPY, and a later try that finds the record skips the unit. That transaction is also why a unit is all or nothing: an interrupted
try leaves no visible row of the unit it was loading, only the units it committed before. How many rows
the clear removed is counted where it happens (`clear_unit`) and handed to the lane, which says it.
The unit's table locks are taken first, explicitly, under the session's lock_timeout (pg/locks.py), so a
lock that does not come names the table and who holds it. Memory stays bounded: psycopg hands over one
chunk at a time.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import psycopg
from psycopg import errors, pq, sql

from include.pgferry.logical import loaded_blocks, progress
from include.pgferry.model import QualifiedName, Unit
from include.pgferry.pg import catalog, locks
from include.pgferry.pg.endpoint import apply_settings, switch_off_triggers

log = logging.getLogger(__name__)

TARGET_SESSION = {"synchronous_commit": "off"}  # the load is redone on failure anyway
PROGRESS_EVERY_S = 10.0
WRITE_BATCH = 256 * 1024    # bytes handed to the target per write call
DRAIN_ROWS = 512            # rows taken from libpq between two looks at the block size (less per-row Python)


def copy_out_blocks(conn: psycopg.Connection, batch: int = WRITE_BATCH, what: str | None = None):
    """Yield the data of a running COPY TO STDOUT in blocks of about `batch` bytes.

    psycopg's own iteration goes through its wait machinery once per row, which costs more client CPU
    than the rest of the transfer. This drains whatever libpq already holds with one call per row, runs
    of up to DRAIN_ROWS rows between two looks at the block size, and waits on the socket only when the
    buffer is empty. A run never takes more than libpq has buffered (non-blocking reads do not touch the
    socket), so a block stays within `batch` plus about one buffer: memory is flat in table size. It runs
    inside psycopg's `cursor.copy()` block, which keeps owning the statement, its errors and its cleanup.
    A wait for the socket is bounded (logical/progress.py): no bytes for the no-progress bound, or the lane
    past its deadline, raise naming `what` (the unit).
    """
    pgconn = conn.pgconn
    get_copy_data = pgconn.get_copy_data
    buf = bytearray()
    while True:
        for _ in range(DRAIN_ROWS):
            nbytes, data = get_copy_data(1)
            if nbytes <= 0:
                break
            buf += data
        if len(buf) >= batch:
            yield bytes(buf)
            buf.clear()
        if nbytes == 0:            # nothing buffered: wait for the socket, then read what arrived
            try:
                progress.wait_readable(pgconn.socket, what)
            except progress.LaneBoundExceeded:
                # closed, so that psycopg's cleanup does not cancel and then wait for the rest of a COPY
                # that will never come
                conn.close()
                raise
            pgconn.consume_input()
        elif nbytes < 0:           # -1: the server ended the COPY; -2: libpq error
            break
    if buf:
        yield bytes(buf)
    if nbytes == -2:
        raise errors.OperationalError(pgconn.get_error_message())
    # every result up to libpq's last, so the connection is idle again, then the server's error if any
    error = None
    while (res := pgconn.get_result()) is not None:
        if res.status != pq.ExecStatus.COMMAND_OK and error is None:
            error = errors.error_from_result(res, encoding=conn.info.encoding)
    if error is not None:
        raise error


@dataclass
class UnitResult:
    id: str
    table: str      # the source table, as the report names it
    rows: int
    bytes: int
    seconds: float
    already_loaded: bool = False    # a block range an earlier try loaded (rows: what it recorded): skipped

    def as_dict(self):
        out = {"id": self.id, "table": self.table, "rows": self.rows, "bytes": self.bytes,
               "seconds": round(self.seconds, 3),
               "mb_per_s": round(self.bytes / 1e6 / self.seconds, 1) if self.seconds > 0 else None}
        if self.already_loaded:
            out["already_loaded"] = True
        return out


def _range_condition(unit: Unit, column_name: str) -> sql.Composable:
    r = unit.range
    col = sql.Identifier(column_name)
    parts = []
    if r.lo is not None:
        parts.append(sql.SQL("{} >= {}").format(col, sql.Literal(r.lo)))
    if r.hi is not None:
        parts.append(sql.SQL("{} < {}").format(col, sql.Literal(r.hi)))
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")


def source_copy_statement(unit: Unit) -> sql.Composed:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in unit.columns)
    fmt = sql.SQL(" (FORMAT binary)") if unit.binary else sql.SQL("")
    if unit.filter is not None:   # an extension's configuration table: the rows pg_dump dumps, as it reads them
        return sql.SQL("COPY (SELECT {} FROM ONLY {} {}) TO STDOUT{}").format(
            cols, unit.source.identifier, filter_clause(unit), fmt)
    if unit.whole:
        return sql.SQL("COPY {} ({}) TO STDOUT{}").format(unit.source.identifier, cols, fmt)
    where = block_condition(unit) if unit.blocks is not None else _range_condition(unit, unit.range.column)
    return sql.SQL("COPY (SELECT {} FROM ONLY {} WHERE {}) TO STDOUT{}").format(
        cols, unit.source.identifier, where, fmt)


def block_condition(unit: Unit) -> sql.Composable:
    """`ctid >= '(lo,0)'::tid AND ctid < '(hi,0)'::tid` (no upper bound for the table's last range): a TID
    Range Scan on PostgreSQL 14+."""
    b = unit.blocks
    cond = sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({b.lo},0)"))
    if b.hi is not None:
        cond = sql.SQL("{} AND ctid < {}::tid").format(cond, sql.Literal(f"({b.hi},0)"))
    return cond


def filter_clause(unit: Unit) -> sql.Composable:
    """The extension's own condition (pg_extension.extcondition: '' or a WHERE clause), as pg_dump splices it
    in: SQL the extension's install script wrote, read from the source's catalog."""
    return sql.SQL(unit.filter or "")


def target_copy_statement(unit: Unit, freeze: bool) -> sql.Composed:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in unit.target_columns)
    opts = []
    if unit.binary:
        opts.append(sql.SQL("FORMAT binary"))
    if freeze:
        opts.append(sql.SQL("FREEZE"))
    with_opts = sql.SQL(" ({})").format(sql.SQL(", ").join(opts)) if opts else sql.SQL("")
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(unit.target.identifier, cols, with_opts)


def _is_referenced(target: psycopg.Connection, unit: Unit) -> bool:
    """TRUNCATE fails when a foreign key points at the table (a unit cleared after the FK step)."""
    row = catalog.fetch_one(target, "count_referencing_foreign_keys", schema=unit.target.schema,
                            table=unit.target.name)
    return row["n"] > 0


def truncates(target: psycopg.Connection, unit: Unit) -> bool:
    """Is the unit cleared with TRUNCATE (a whole table nothing references), else with DELETE? Never an
    extension's configuration table: CREATE EXTENSION filled it with the extension's own rows, which stay."""
    return unit.whole and unit.filter is None and not _is_referenced(target, unit)


def rows_before_truncate(target: psycopg.Connection, unit: Unit) -> int:
    """The rows a TRUNCATE is about to remove. A table never written to (structure just made it, or a
    TRUNCATE emptied it) has no pages: no scan on a first load. Otherwise they are counted: a read of the
    rows an earlier try committed, or of the pages its rolled-back rows left, cheaper than the copy after."""
    size = catalog.fetch_one(target, "show_relation_size", schema=unit.target.schema, name=unit.target.name)
    if not size or not size["bytes"]:
        return 0
    return target.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(unit.target.identifier)).fetchone()[0]


def clear_unit(target: psycopg.Connection, unit: Unit, truncate: bool) -> int:
    """Remove the unit's rows inside the open transaction (TRUNCATE when `truncate`, which then allows COPY
    FREEZE; DELETE otherwise); how many rows were there."""
    table = unit.target.identifier
    if unit.filter is not None:   # only the rows this unit loads: those matching the extension's filter
        return target.execute(sql.SQL("DELETE FROM ONLY {} {}").format(table, filter_clause(unit))).rowcount
    if unit.blocks is not None:   # only rows no recorded range accounts for (logical/loaded_blocks.py)
        return loaded_blocks.clear_unaccounted(target, unit)
    # a key range or the whole table: the table's record of loaded block ranges (an earlier plan's) is stale
    loaded_blocks.forget_table(target, unit)
    if unit.range is not None:
        return target.execute(sql.SQL("DELETE FROM ONLY {} WHERE {}").format(
            table, _range_condition(unit, unit.target_range_column))).rowcount
    if not truncate:
        return target.execute(sql.SQL("DELETE FROM ONLY {}").format(table)).rowcount
    found = rows_before_truncate(target, unit)
    target.execute(sql.SQL("TRUNCATE ONLY {}").format(table))
    return found


def lock_unit_tables(target: psycopg.Connection, unit: Unit, truncate: bool, not_valid_checks: list[dict],
                     timeout_s: float, waits_for: locks.WaitsFor | None):
    """The locks the unit's transaction needs, taken first, one table at a time, so that a wait past
    lock_timeout names its table: ACCESS EXCLUSIVE to TRUNCATE or to set NOT VALID checks aside (on the
    table and the ancestors that define them), ROW EXCLUSIVE to DELETE and COPY."""
    mode = "ACCESS EXCLUSIVE" if truncate or not_valid_checks else "ROW EXCLUSIVE"
    tables = {unit.target: mode}
    for r in not_valid_checks:
        tables.setdefault(QualifiedName(r["schema"], r["table"]), "ACCESS EXCLUSIVE")
    for table, table_mode in tables.items():
        locks.lock_table(target, table, table_mode, timeout_s, waits_for, progress.check_deadline)


def set_aside_not_valid_checks(target: psycopg.Connection, unit: Unit,
                               rows: list[dict] | None = None) -> list[sql.Composable]:
    """Drop the NOT VALID check constraints that apply to the unit's table (inside the open transaction)
    and return the statements that add them back, unvalidated, with their comments.

    The source's rows may break such a constraint (that is why it is NOT VALID), and COPY checks every
    row against it. A first load comes before the lane builds it; a retried or cleared load finds it
    built, and would fail with CheckViolation: so it is set aside for the load and put back as it was.
    An inherited one is dropped and added where it is defined (its ancestor), ancestors first; so are the
    NOT VALID checks of the domains the table's columns use (pg_dump restores them after the data).
    `rows`: the table's list_not_valid_checks, when the caller has read them already."""
    if rows is None:
        rows = not_valid_checks(target, unit)
    restore = []
    for r in rows:   # ancestors first
        table = sql.Identifier(r["schema"], r["table"])
        target.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(r["name"])))
        add = [sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(table, sql.Identifier(r["name"]),
                                                                    sql.SQL(r["definition"]))]
        if r["comment"] is not None:
            add.append(sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
                sql.Identifier(r["name"]), table, sql.Literal(r["comment"])))
        restore = add + restore   # descendants first: an ancestor's add then merges with theirs
    domain_rows = catalog.fetch(target, "list_not_valid_domain_checks", schema=unit.target.schema,
                                table=unit.target.name)
    for r in domain_rows:   # the same for the domains the table's columns use
        domain = sql.Identifier(r["schema"], r["domain"])
        target.execute(sql.SQL("ALTER DOMAIN {} DROP CONSTRAINT {}").format(domain, sql.Identifier(r["name"])))
        restore.append(sql.SQL("ALTER DOMAIN {} ADD CONSTRAINT {} {}").format(domain, sql.Identifier(r["name"]),
                                                                             sql.SQL(r["definition"])))
        if r["comment"] is not None:
            restore.append(sql.SQL("COMMENT ON CONSTRAINT {} ON DOMAIN {} IS {}").format(
                sql.Identifier(r["name"]), domain, sql.Literal(r["comment"])))
    if rows or domain_rows:
        log.info("  %s: %d NOT VALID check constraint(s) set aside for the load and added back unvalidated",
                 unit.id, len(rows) + len(domain_rows))
    return restore


def not_valid_checks(target: psycopg.Connection, unit: Unit) -> list[dict]:
    return catalog.fetch(target, "list_not_valid_checks", schema=unit.target.schema, table=unit.target.name)


def count_rows(source: psycopg.Connection, unit: Unit) -> int:
    where = sql.SQL(" WHERE {}").format(block_condition(unit)) if unit.blocks is not None else sql.SQL("")
    return source.execute(sql.SQL("SELECT count(*) FROM ONLY {}{}").format(unit.source.identifier, where)).fetchone()[0]


def insert_empty_rows(target: psycopg.Connection, unit: Unit, n: int) -> int:
    """A table without copyable columns (none left, or only generated ones) still holds rows: COPY cannot
    name zero columns, so the count moves instead, as n rows of defaults (generated columns computed)."""
    if n:
        target.execute(sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, {})").format(
            unit.target.identifier, sql.Literal(n)))
    return n


def copy_unit(source: psycopg.Connection, target: psycopg.Connection, unit: Unit, *,
              lock_timeout_s: float = locks.LOCK_TIMEOUT_S, waits_for: locks.WaitsFor | None = None,
              on_cleared: Callable[[int], None] | None = None, in_transaction: bool = False) -> UnitResult:
    """Copy one unit; `target` must not be in a transaction (the unit gets its own), unless `in_transaction`:
    then the caller's open transaction is the unit's (a copy lane's, which claimed the unit in it and marks
    it done before it commits: logical/claims.py), and a LockNotAvailable goes to the caller as it is
    (`lock_wait_timeout` names it once the transaction is gone). `on_cleared` hears how many rows of the
    unit were already there and removed, before the copy starts; a table lock not granted within
    `lock_timeout_s` fails the unit unless `waits_for` accepts every holder (pg/locks.py)."""
    if in_transaction:
        return _load_unit(source, target, unit, lock_timeout_s, waits_for, on_cleared)
    try:
        with target.transaction():
            return _load_unit(source, target, unit, lock_timeout_s, waits_for, on_cleared)
    except errors.LockNotAvailable as e:
        raise lock_wait_timeout(target, unit, lock_timeout_s) from e


def lock_wait_timeout(target: psycopg.Connection, unit: Unit, lock_timeout_s: float) -> locks.LockWaitTimeout:
    """A wait inside a statement (a row an uncommitted DELETE holds, a domain) ran out: the transaction is
    gone, so what is named is every session holding a lock on the unit's table now."""
    holders = locks.lock_holders(target, unit.target, locks.MODES["ACCESS EXCLUSIVE"])
    return locks.LockWaitTimeout(f"while loading {unit.id}: " + locks.describe_timeout(
        unit.target, None, lock_timeout_s, holders))


def _load_unit(source, target, unit: Unit, lock_timeout_s: float, waits_for: locks.WaitsFor | None,
               on_cleared: Callable[[int], None] | None) -> UnitResult:
    """The unit's work inside its open target transaction."""
    t0 = time.monotonic()
    rows = nbytes = 0
    last_report = t0
    truncate = truncates(target, unit)
    checks = not_valid_checks(target, unit)
    lock_unit_tables(target, unit, truncate, checks, lock_timeout_s, waits_for)
    if unit.blocks is not None:
        earlier = loaded_blocks.found(target, unit)
        if earlier is not None:   # loaded whole by an earlier try: nothing to do
            return UnitResult(unit.id, unit.table, earlier.rows, 0, time.monotonic() - t0, already_loaded=True)
    restore_checks = set_aside_not_valid_checks(target, unit, checks)
    found = clear_unit(target, unit, truncate)
    if on_cleared is not None:
        on_cleared(found)
    if not unit.columns:
        rows = insert_empty_rows(target, unit, count_rows(source, unit))
        for stmt in restore_checks:
            target.execute(stmt)
        if unit.blocks is not None:
            loaded_blocks.record(target, unit, rows)
        return UnitResult(unit.id, unit.table, rows, 0, time.monotonic() - t0)
    with source.cursor() as scur, target.cursor() as tcur:
        with scur.copy(source_copy_statement(unit)), \
                tcur.copy(target_copy_statement(unit, truncate)) as inp:
            for chunk in copy_out_blocks(source, what=unit.id):
                inp.write(chunk)
                nbytes += len(chunk)
                now = time.monotonic()
                if now - last_report >= PROGRESS_EVERY_S:
                    last_report = now
                    rate = nbytes / 1e6 / (now - t0)
                    eta = (unit.bytes - nbytes) / 1e6 / rate if rate > 0 and unit.bytes > nbytes else 0
                    log.info("  %s: %.1f MB, %.1f MB/s, about %.0f s left", unit.id, nbytes / 1e6, rate, eta)
        rows = tcur.rowcount
    for stmt in restore_checks:
        target.execute(stmt)
    if unit.blocks is not None:   # commits with the rows, or neither does
        loaded_blocks.record(target, unit, rows)
    return UnitResult(unit.id, unit.table, rows, nbytes, time.monotonic() - t0)


def open_target_session(conn: psycopg.Connection, lock_timeout_s: float = locks.LOCK_TIMEOUT_S) -> bool:
    """Session settings for loading (lock waits bounded by `lock_timeout_s`); True when triggers and foreign
    keys are off for this session.

    In a full migration the target has no triggers or foreign keys while it loads. They exist when only
    data is migrated, or when a copy is retried after the trigger step: then the session must run with
    session_replication_role = replica (superuser, rds_superuser, or SET granted on the parameter) so that
    the load neither fires triggers nor checks keys row by row."""
    apply_settings(conn, TARGET_SESSION)
    locks.set_lock_timeout(conn, lock_timeout_s)
    return switch_off_triggers(conn)


class TriggersInTheWay(RuntimeError):
    pass


def check_no_triggers(conn: psycopg.Connection, unit: Unit):
    """Refuse to load a table whose triggers or foreign keys would fire, when they cannot be switched off."""
    rows = catalog.enabled_triggers(conn).get((unit.target.schema, unit.target.name), [])
    if rows:
        names = ", ".join(sorted({"foreign keys" if r["internal"] else r["name"] for r in rows}))
        raise TriggersInTheWay(
            f"{unit.target.schema}.{unit.target.name} has {names} on the target, which would act on every "
            f"loaded row, and the target user may not set session_replication_role = replica to switch them off "
            f"for the load: migrate structure and data together, or use a user allowed to set it "
            f"(superuser, rds_superuser, or GRANT SET ON PARAMETER session_replication_role)")
