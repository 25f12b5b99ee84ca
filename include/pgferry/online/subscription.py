"""Engine A (Param `apply_engine` = "subscription"): a native subscription on the TARGET applies the changes.

After the load, where pgferry's own apply would start, `create` makes on the target

    CREATE SUBSCRIPTION pgferry_<run> CONNECTION '<the source>' PUBLICATION pgferry_<run>
        WITH (create_slot = false, slot_name = 'pgferry_<run>', copy_data = false, enabled = true)

attached to the run's permanent slot, whose confirmed_flush_lsn is the snapshot's consistent point: the
subscription streams exactly the changes after the loaded data (no copy, no new slot). These option names
are the same from PostgreSQL 10 to 17. `connect` stays at its default (true): CREATE SUBSCRIPTION then
reads the publication's table list from the source, which is also the first proof that the target can
reach the source; a target that cannot fails there, with the address it tried.

The apply worker runs inside the target server with session_replication_role = replica, as pgferry's
apply does: ordinary triggers and foreign keys do not fire. Its progress is the subscription's replication
origin, and it confirms to the source slot only what the target has flushed, so the slot's
confirmed_flush_lsn is the same measure of lag as with pgferry's apply (wait_caught_up reads it unchanged).

At cutover (`finish_at_freeze`): wait until the slot has confirmed the freeze LSN, then DISABLE, `SET
(slot_name = NONE)` and DROP the subscription, so that dropping it never touches the source slot (the
run's cleanup drops that, as for the other engine). `drop` removes it in any state, for abort and cleanup.

The connection string carries the source password from the Airflow connection: it is stored in the
target's pg_subscription (readable by superusers), never logged by pgferry (logs show it masked), and the
session that creates the subscription asks the server, where it may, not to log the statement.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from include.pgferry.pg.catalog import fetch_one
from include.pgferry.pg.endpoint import CONNECT_TIMEOUT_S, PgEndpoint

log = logging.getLogger("pgferry")

PGFERRY, SUBSCRIPTION = "pgferry", "subscription"
ENGINES = (PGFERRY, SUBSCRIPTION)
START_WAIT_S = 120           # the apply worker must run and hold the source slot within this
CUTOVER_WAIT_S = 1800        # the slot must confirm the freeze LSN within this
MASK = "********"
# libpq parameters of the source's Airflow connection that mean the same on the target server's host
# (file paths such as sslrootcert name files on pgferry's worker, not there)
_PORTABLE_EXTRAS = ("sslmode", "target_session_attrs", "gssencmode", "channel_binding")


class SubscriptionError(RuntimeError):
    pass


def engine_of(params: dict) -> str:
    engine = (params or {}).get("apply_engine") or PGFERRY
    if engine not in ENGINES:
        raise SubscriptionError(f"apply_engine {engine!r}: choose one of {', '.join(ENGINES)}")
    return engine


# -- the connection string --------------------------------------------------------------------------

def conninfo_value(value) -> str:
    """One value of a libpq keyword/value connection string: always single-quoted, with backslash and
    single quote escaped by a backslash (libpq's rules), so spaces, quotes, '=' and empty values survive."""
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conninfo(params: dict) -> str:
    """`key='value' ...` in the order given; keys are libpq's own keywords (never user input)."""
    return " ".join(f"{k}={conninfo_value(v)}" for k, v in params.items() if v is not None)


def masked(params: dict) -> str:
    """The same string with the password hidden: what logs and XCom show."""
    return conninfo({k: (MASK if k == "password" else v) for k, v in params.items()})


def source_params(source: PgEndpoint, host: str | None = None, port: int | None = None) -> dict:
    """The libpq parameters with which the TARGET server reaches the source: the address the target sees
    (Params subscription_source_host / _port; default the source connection's), the source's database,
    user and password (none for a connection without one, e.g. trust or a .pgpass on the target)."""
    params = {"host": host or source.host, "port": str(port or source.port), "dbname": source.dbname,
              "user": source.user, "connect_timeout": str(CONNECT_TIMEOUT_S)}
    extra = dict(source.libpq_extra)
    params.update({k: extra[k] for k in _PORTABLE_EXTRAS if k in extra})
    if source.password:
        params["password"] = source.password
    return params


def address(params: dict) -> str:
    return f"{params['host']}:{params['port']}"


# -- the subscription on the target ---------------------------------------------------------------

def find(target: psycopg.Connection, name: str) -> dict | None:
    return fetch_one(target, "show_subscription", name=name)


def error_counts(target: psycopg.Connection, name: str) -> int:
    """Apply and sync failures so far (0 before PostgreSQL 15, which does not count them)."""
    if target.info.server_version < 150000:
        return 0
    row = fetch_one(target, "show_subscription_errors", name=name)
    return int(row["apply_errors"] + row["sync_errors"]) if row else 0


def _quiet_statement_log(target: psycopg.Connection):
    """Ask the server not to write this transaction's statements to its log (the CONNECTION literal holds the
    password): only a superuser may; otherwise the server's own settings apply (by default it logs a
    statement only when it fails: log_min_error_statement = error)."""
    for name, value in (("log_statement", "none"), ("log_min_error_statement", "panic"),
                        ("log_min_duration_statement", "-1")):
        try:
            with target.transaction():
                target.execute("SELECT set_config(%s, %s, true)", (name, value))
        except psycopg.errors.InsufficientPrivilege:
            pass


def _check_same(row: dict, name: str, publication: str, slot: str):
    if row["slot_name"] != slot or list(row["publications"] or []) != [publication]:
        raise SubscriptionError(
            f"a subscription {name} already exists on the target, but it reads publication(s) "
            f"{', '.join(row['publications'] or []) or 'none'} through slot {row['slot_name'] or 'NONE'}, not "
            f"publication {publication} through slot {slot}: it is not this run's; drop it "
            f"(ALTER SUBSCRIPTION {name} DISABLE; ALTER SUBSCRIPTION {name} SET (slot_name = NONE); "
            f"DROP SUBSCRIPTION {name}) once you know what it was for")


def create(target: psycopg.Connection, name: str, source: dict, publication: str, slot: str) -> str:
    """The run's subscription, made or (a retry) found: "created" or "found". A found one must read the
    same publication through the same slot (else refused); a disabled one is enabled again, never made
    anew (its replication origin is where the apply stands)."""
    row = find(target, name)
    if row is not None:
        _check_same(row, name, publication, slot)
        if not row["enabled"]:
            target.execute(sql.SQL("ALTER SUBSCRIPTION {} ENABLE").format(sql.Identifier(name)))
        log.info("subscription %s found on the target (publication %s, slot %s)%s", name, publication, slot,
                 "" if row["enabled"] else "; enabled again")
        return "found"
    statement = sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (create_slot = false, "
                        "slot_name = {}, copy_data = false, enabled = true)").format(
        sql.Identifier(name), sql.Literal(conninfo(source)), sql.Identifier(publication), sql.Literal(slot))
    log.info("creating subscription %s on the target: CONNECTION %s PUBLICATION %s, slot %s", name,
             masked(source), publication, slot)
    try:
        with target.transaction():
            _quiet_statement_log(target)
            target.execute(statement)
    except psycopg.Error as e:
        message = e.diag.message_primary or str(e)
        if "could not connect to the publisher" in message:
            raise SubscriptionError(
                f"the target server could not connect to the source at {address(source)} to create subscription "
                f"{name}: {message.strip()}. With apply_engine subscription the TARGET server connects to the "
                f"source: set subscription_source_host / subscription_source_port to an address the target "
                f"reaches, and let the source's firewall and pg_hba.conf accept it; or use apply_engine "
                f"pgferry") from None
        raise SubscriptionError(f"CREATE SUBSCRIPTION {name} failed on the target: {message}") from None
    return "created"


def _slot_row(source: psycopg.Connection, slot: str) -> dict:
    row = fetch_one(source, "show_replication_slot", slot=slot)
    if row is None:
        raise SubscriptionError(f"the replication slot {slot} is gone from the source: changes since it was made are "
                                f"lost to this run; abort it and start the online migration again")
    return row


def _not_running(name: str, source: dict, waited_s: float, errors: int, row: dict | None) -> SubscriptionError:
    if row is None:
        why = "is gone from the target"
    elif not row["enabled"]:
        why = "is disabled"
    elif row["worker_pid"] is None:
        why = "has no apply worker running on the target"
    else:
        why = "has a worker, but it holds no session on the source's slot"
    return SubscriptionError(
        f"subscription {name} {why} after {waited_s:.0f} s ({errors} worker error(s) counted): its errors are in "
        f"the TARGET server's log (\"logical replication\" lines, e.g. could not connect to the publisher). Check "
        f"that the target reaches the source at {address(source)} (subscription_source_host / _port), that the "
        f"source's pg_hba.conf accepts the target's address for user {source['user']}, and the password")


def wait_running(source_conn: psycopg.Connection, target: psycopg.Connection, name: str, slot: str, source: dict,
                 timeout_s: float = START_WAIT_S, clock: Callable[[], float] = time.monotonic,
                 pause: Callable[[], None] = lambda: time.sleep(1)) -> dict:
    """Wait, bounded, until the subscription's apply worker runs on the target and its session holds the run's
    slot on the source (it reached the source); a clear failure otherwise."""
    start = clock()
    while True:
        row = find(target, name)
        held = _slot_row(source_conn, slot)
        if row is not None and row["enabled"] and row["worker_pid"] is not None and held["active"]:
            log.info("subscription %s runs: worker pid %s on the target, source session pid %s on slot %s", name,
                     row["worker_pid"], held["active_pid"], slot)
            return {"worker_pid": row["worker_pid"], "source_pid": held["active_pid"]}
        if clock() - start > timeout_s:
            raise _not_running(name, source, clock() - start, error_counts(target, name), row)
        pause()


def wait_confirmed(source_conn: psycopg.Connection, target: psycopg.Connection, name: str, slot: str, lsn: int,
                   source: dict, timeout_s: float = CUTOVER_WAIT_S, stall_s: float = START_WAIT_S,
                   clock: Callable[[], float] = time.monotonic,
                   pause: Callable[[], None] = lambda: time.sleep(0.5)) -> int:
    """Wait until the slot's confirmed_flush_lsn is at or past `lsn` (the subscription applied and flushed every
    transaction before it); its position. Fails clearly when the worker stays away `stall_s` or past the bound."""
    from include.pgferry.online import pgoutput as po
    start = clock()
    away_since = None
    while True:
        held = _slot_row(source_conn, slot)
        here = po.lsn_int(held["confirmed_flush_lsn"]) if held["confirmed_flush_lsn"] else 0
        if here >= lsn:
            log.info("subscription %s confirmed %s, past the freeze point %s", name, po.lsn_text(here),
                     po.lsn_text(lsn))
            return here
        row = find(target, name)
        now = clock()
        if row is None or not row["enabled"] or row["worker_pid"] is None or not held["active"]:
            away_since = away_since if away_since is not None else now
            if row is None or not row["enabled"] or now - away_since > stall_s:
                raise _not_running(name, source, now - away_since, error_counts(target, name), row)
        else:
            away_since = None
        if now - start > timeout_s:
            raise SubscriptionError(f"subscription {name} did not confirm {po.lsn_text(lsn)} within {timeout_s:.0f} s "
                                    f"(it stands at {po.lsn_text(here)}; {error_counts(target, name)} worker "
                                    f"error(s) counted, see the target server's log)")
        pause()


def drop(target: psycopg.Connection, name: str) -> bool:
    """Remove the subscription in whatever state it is (idempotent): disable it, detach it from its slot
    (slot_name = NONE, so DROP neither connects to the source nor drops the slot), drop it. Whether there was
    one."""
    row = find(target, name)
    if row is None:
        return False
    ident = sql.Identifier(name)
    if row["enabled"]:
        target.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
    if row["slot_name"] is not None:
        target.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
    target.execute(sql.SQL("DROP SUBSCRIPTION IF EXISTS {}").format(ident))
    log.info("subscription %s disabled, detached from its slot and dropped", name)
    return True


def pending_changes(source_conn: psycopg.Connection, slot: str, publication: str, upto_lsn: int) -> int:
    """Changes of the run's tables the slot holds up to `upto_lsn` (peeked, not consumed)."""
    from include.pgferry.online import apply as ap
    from include.pgferry.online import pgoutput as po
    rows = ap.peek(source_conn, slot, publication, upto_lsn, 10_000)
    return sum(len(tx.changes) for tx in po.Transactions().feed(rows))


def finish_at_freeze(source_conn: psycopg.Connection, target: psycopg.Connection, name: str, slot: str,
                     publication: str, freeze_lsn: int, source: dict, **waits) -> dict:
    """The cutover's end of the subscription: everything through `freeze_lsn` confirmed, then removed. A retry
    that finds it already removed checks that the slot holds no change of the run's tables up to the freeze."""
    from include.pgferry.online import pgoutput as po
    if find(target, name) is None:
        left = pending_changes(source_conn, slot, publication, freeze_lsn)
        if left:
            raise SubscriptionError(
                f"subscription {name} is not on the target, yet the slot {slot} still holds {left} change(s) up to "
                f"the freeze point {po.lsn_text(freeze_lsn)}: apply_changes did not create it (see its state), or it "
                f"was dropped before applying everything; abort the run")
        return {"subscription": name, "detached": False, "confirmed_lsn": None}
    confirmed = wait_confirmed(source_conn, target, name, slot, freeze_lsn, source, **waits)
    drop(target, name)
    return {"subscription": name, "detached": True, "confirmed_lsn": po.lsn_text(confirmed)}
