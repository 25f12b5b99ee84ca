"""The online migration's own prechecks, run after the logical ones: what reading the source's changes
while it takes writes needs. Each check returns findings (checks/findings.py); a blocking one names who
and what, and its `fix` is the statement or setting that fixes it.

- online version: the source must be PostgreSQL 13+ (slot copies from 12, wal_status from 13).
- logical decoding: wal_level = logical (on RDS/Aurora: rds.logical_replication = 1); both need a restart.
- replication capacity: two free slots (the holder's temporary one and its permanent copy live side by
  side for a moment) and a free WAL sender (the holder's replication session).
- replication privilege: REPLICATION (or rds_replication, or superuser), CREATE on the database and
  ownership of every published table (CREATE PUBLICATION ... FOR TABLE needs both).
- replica identity: every table needs one, or publishing it makes the APPLICATION's own UPDATE and DELETE
  fail on the source ("cannot update table ... because it does not have a replica identity and publishes
  updates"). A primary key, REPLICA IDENTITY FULL or USING INDEX is accepted; anything else is refused
  with the statement that gives the table one.
- unlogged tables (warned): not decoded; they are copied as of the snapshot and their later writes are lost.
- large objects (warned): not decoded; the cutover copies them after the source is frozen.
- leftover slots (warned): pgferry_ slots of other runs, which keep WAL on the source until dropped.
- apply privilege: the target session must be allowed session_replication_role = replica (pgferry's apply).
- retained WAL (warned, never refused): the source's WAL rate, sampled over `wal_sample_s` seconds, times
  an estimate of the load's length (the data's size at a conservative ONLINE_LOAD_MB_S, plus fixed costs)
  is the WAL the run's slot keeps on the source until the apply catches up. Warned when it passes
  max_retained_wal_bytes (the run would fail at that cap), or the free space of the source's pg_wal when
  this machine can see it, or when it can be checked against neither (a managed source: on RDS/Aurora,
  FreeStorageSpace in CloudWatch). The clock and the sleep are the context's, so a test can drive them.

With apply_engine "subscription" (online/subscription.py), instead of the apply privilege:
- subscription selection: no renames (schema, table, column) and no left-out columns: a subscription writes
  each change to the table and columns of the same names.
- subscription privilege: the target user may CREATE SUBSCRIPTION (superuser, rds_superuser, or on
  PostgreSQL 16+ pg_create_subscription with CREATE on the database; a non-superuser's subscription must
  then authenticate to the source with a password, so the source connection needs one).
Whether the target server reaches the source cannot be tried without the subscription itself: CREATE
SUBSCRIPTION (apply_changes) is that test, and fails naming the address.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg

from include.pgferry.checks.findings import ERROR, WARNING, Finding, check_name, names_list, run_checks
from include.pgferry.checks.pg import local_free_bytes
from include.pgferry.model import Plan, QualifiedName
from include.pgferry.online.follow import current_lsn
from include.pgferry.pg.catalog import fetch, fetch_one, version_label
from include.pgferry.pg.endpoint import switch_off_triggers
from include.pgferry.pg.names import dump_ident as quote_ident  # quoted only where needed, as psql users write them
from include.pgferry.schedule import throughput

log = logging.getLogger("pgferry")

MIN_ONLINE_VERSION = 130000
FREE_SLOTS_NEEDED = 2
WAL_SAMPLE_S = 10          # the Param wal_sample_s's default
# conservative on purpose: the offline estimate's default (one COPY stream on a small server, indexes
# after), not the rate an earlier offline run measured; an online load also shares the source with the
# application's writes
ONLINE_LOAD_MB_S = throughput.DEFAULT_MB_S


@dataclass
class Context:
    source: psycopg.Connection
    plan: Plan
    target: psycopg.Connection | None = None
    run_slots: tuple[str, ...] = ()       # this run's own slot names (not leftovers)
    wal_sample_s: float = 0               # the WAL rate sample's window; 0: no retained-WAL estimate
    max_retained_wal_bytes: int | None = None
    source_bytes: int | None = None       # the migrated data's size (the logical precheck's); None: measured here
    source_host: str = ""                 # for the free space of a source on this machine
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    engine: str = "pgferry"               # Param apply_engine
    source_has_password: bool = True      # the source connection carries a password (subscription engine)


def _e(check, msg, fix=""):
    return Finding(ERROR, check, msg, fix)


def _w(check, msg, fix=""):
    return Finding(WARNING, check, msg, fix)


def _ident(q: QualifiedName) -> str:
    return f"{quote_ident(q.schema)}.{quote_ident(q.name)}"


def check_online_version(ctx: Context) -> list[Finding]:
    num = ctx.source.info.server_version
    if num < MIN_ONLINE_VERSION:
        return [_e("online version", f"the source runs PostgreSQL {version_label(num)}; online migration needs "
                                     f"13 or newer (pg_copy_logical_replication_slot, wal_status)",
                   "upgrade the source, or migrate offline with postgres_logical_migration")]
    return []


def check_logical_decoding(ctx: Context) -> list[Finding]:
    s = fetch_one(ctx.source, "show_logical_replication_settings")
    if s["wal_level"] == "logical":
        return []
    if s["rds_logical_replication"] is not None:
        return [_e("logical decoding", f"rds.logical_replication is {s['rds_logical_replication']} (wal_level "
                                       f"{s['wal_level']}): the source does not write the WAL logical decoding "
                                       f"reads",
                   "set rds.logical_replication = 1 in the instance's DB parameter group (Aurora: the DB cluster "
                   "parameter group), then reboot the instance (Aurora: the writer)")]
    return [_e("logical decoding", f"wal_level is {s['wal_level']}: the source does not write the WAL logical "
                                   f"decoding reads",
               "ALTER SYSTEM SET wal_level = logical; then restart the source server")]


def check_replication_capacity(ctx: Context) -> list[Finding]:
    s = fetch_one(ctx.source, "show_logical_replication_settings")
    out = []
    free = s["max_replication_slots"] - s["used_slots"]
    if free < FREE_SLOTS_NEEDED:
        out.append(_e("replication capacity", f"{free} of max_replication_slots = {s['max_replication_slots']} "
                                              f"free; an online run needs {FREE_SLOTS_NEEDED}",
                      f"drop unused slots (pg_replication_slots), or ALTER SYSTEM SET max_replication_slots = "
                      f"{s['used_slots'] + FREE_SLOTS_NEEDED} and restart the source"))
    if s["max_wal_senders"] - s["used_wal_senders"] < 1:
        out.append(_e("replication capacity", f"all {s['max_wal_senders']} WAL senders (max_wal_senders) are in "
                                              f"use; the snapshot holder needs one",
                      f"ALTER SYSTEM SET max_wal_senders = {s['used_wal_senders'] + 1} and restart the source"))
    return out


def check_replication_privilege(ctx: Context) -> list[Finding]:
    p = fetch_one(ctx.source, "show_replication_privileges")
    user, out = p["user"], []
    if not (p["superuser"] or p["replication"] or p["rds_replication"]):
        fix = (f"GRANT rds_replication TO {quote_ident(user)}" if p["rds_replication"] is not None
               else f"ALTER ROLE {quote_ident(user)} WITH REPLICATION")
        out.append(_e("replication privilege", f"the source user {user} may not make replication slots: it lacks "
                                               f"the REPLICATION attribute", fix))
    if not p["create_on_database"]:
        out.append(_e("replication privilege", f"the source user {user} lacks CREATE on database {p['database']}, "
                                               f"needed to create the run's publication",
                      f"GRANT CREATE ON DATABASE {quote_ident(p['database'])} TO {quote_ident(user)}"))
    tables = _identities(ctx)
    foreign = [t for t in tables if not t["owned"] and not p["superuser"]]
    if foreign:
        names = [_ident(QualifiedName(t["schema"], t["name"])) for t in foreign]
        out.append(_e("replication privilege", f"the source user {user} does not own {names_list(names)}: only a "
                                               f"table's owner may publish it",
                      f"run as the tables' owner ({names_list(sorted({t['owner'] for t in foreign}))}), or GRANT "
                      f"that role TO {quote_ident(user)}"))
    return out


def _identities(ctx: Context) -> list[dict]:
    oids = [r.oid for r in ctx.plan.data_tables]
    return fetch(ctx.source, "list_replica_identities", oids=oids) if oids else []


def identity_problem(row: dict) -> str | None:
    """Why a table's changes cannot be identified, or None when its replica identity serves."""
    kind = row["identity"]
    if kind == "f" or (kind == "i" and row["identity_index"]):
        return None
    if kind == "d":
        return None if row["has_primary_key"] else "has no primary key (its replica identity is DEFAULT)"
    if kind == "n":
        return "has REPLICA IDENTITY NOTHING"
    return "has REPLICA IDENTITY USING INDEX, but the index is gone"


def check_replica_identity(ctx: Context) -> list[Finding]:
    out = []
    for row in _identities(ctx):
        if row["persistence"] == "u":
            continue            # not published at all (check_unlogged_tables)
        why = identity_problem(row)
        if why is None:
            continue
        table = _ident(QualifiedName(row["schema"], row["name"]))
        out.append(_e("replica identity", f"{table} {why}: its UPDATEs and DELETEs cannot be found on the target, "
                                          f"and once it is published the application's own UPDATE and DELETE on "
                                          f"it would fail on the source",
                      f"ALTER TABLE {table} ADD PRIMARY KEY (...), or ALTER TABLE {table} REPLICA IDENTITY USING "
                      f"INDEX <a unique index on NOT NULL columns>, or ALTER TABLE {table} REPLICA IDENTITY FULL "
                      f"(every UPDATE and DELETE then logs the whole old row, and the apply scans for it)"))
    return out


def check_unlogged_tables(ctx: Context) -> list[Finding]:
    unlogged = [_ident(QualifiedName(r["schema"], r["name"])) for r in _identities(ctx) if r["persistence"] == "u"]
    if not unlogged:
        return []
    return [_w("unlogged tables", f"{names_list(unlogged)} are unlogged: their changes are not in the WAL, so they "
                                  f"are copied as of the snapshot and writes to them during the run do not reach "
                                  f"the target", "ALTER TABLE ... SET LOGGED to carry their writes, or accept it")]


def check_large_objects(ctx: Context) -> list[Finding]:
    n = fetch_one(ctx.source, "count_large_objects")["n"]
    if not n:
        return []
    return [_w("large objects", f"the source has {n} large object(s): logical decoding does not carry them; they "
                                f"are copied at cutover, after the source is frozen, which lengthens the downtime")]


def check_leftover_slots(ctx: Context) -> list[Finding]:
    left = [r for r in fetch(ctx.source, "list_pgferry_slots") if r["slot_name"] not in ctx.run_slots]
    if not left:
        return []
    shown = [f"{r['slot_name']} (database {r['database']}, {'in use' if r['active'] else 'idle'}, "
             f"{(r['retained_bytes'] or 0) / 1e6:.0f} MB of WAL kept)" for r in left]
    fix = "; ".join(f"SELECT pg_drop_replication_slot('{r['slot_name']}')" for r in left if not r["active"])
    return [_w("leftover slots", f"replication slots of other pgferry runs remain on the source: {names_list(shown)}; "
                                 f"each keeps WAL until dropped",
               (fix + " (after making sure no run still needs them)") if fix else "")]


def check_apply_privilege(ctx: Context) -> list[Finding]:
    if ctx.target is None or ctx.engine == "subscription":
        return []
    if switch_off_triggers(ctx.target, probe_only=True):
        return []
    user = ctx.target.info.user
    return [_e("apply privilege", f"the target user {user} may not set session_replication_role = replica, which "
                                  f"the change apply needs (so that triggers and foreign keys do not fire twice)",
               f"run as a superuser (on RDS: GRANT rds_superuser TO {quote_ident(user)}), or on PostgreSQL 15+ "
               f"GRANT SET ON PARAMETER session_replication_role TO {quote_ident(user)}")]


def sample_wal_rate(read_lsn: Callable[[], int], window_s: float, clock: Callable[[], float],
                    sleep: Callable[[float], None]) -> float:
    """The source's WAL rate in bytes per second: two reads of its WAL insert position `window_s` apart."""
    start, t0 = read_lsn(), clock()
    sleep(window_s)
    end, t1 = read_lsn(), clock()
    return max(0, end - start) / (t1 - t0) if t1 > t0 else 0.0


@dataclass(frozen=True)
class WalEstimate:
    rate_bytes_s: float
    load: timedelta            # the load's estimated length
    retained_bytes: int        # WAL the slot keeps by the load's end

    @classmethod
    def of(cls, rate_bytes_s: float, source_bytes: int) -> WalEstimate:
        load = throughput.estimate(source_bytes, ONLINE_LOAD_MB_S)
        return cls(rate_bytes_s, load, int(rate_bytes_s * load.total_seconds()))


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def retained_wal_findings(est: WalEstimate, window_s: float, source_bytes: int, cap: int | None,
                          free_bytes: int | None) -> list[Finding]:
    """Warnings on the estimate against what it can be checked with: the cap Param, the free space of the
    source's pg_wal (when seen), else a word that it could not be checked."""
    if est.retained_bytes <= 0:
        return []
    minutes = est.load.total_seconds() / 60
    said = (f"the source wrote {est.rate_bytes_s / 1e6:.2f} MB/s of WAL over a {window_s:g} s sample; the load of "
            f"{source_bytes / 1e9:.2f} GB is estimated at {minutes:.0f} min (at {ONLINE_LOAD_MB_S:g} MB/s plus "
            f"{throughput.FIXED_OVERHEAD.total_seconds() / 60:.0f} min), so the run's slot would keep about "
            f"{_gb(est.retained_bytes)} of WAL on the source by its end, plus {_gb(est.rate_bytes_s * 3600)} "
            f"for each hour until the cutover")
    out = []
    if cap and est.retained_bytes > cap:
        out.append(_w("retained WAL", f"{said}: more than max_retained_wal_bytes ({_gb(cap)}), at which the run "
                                      f"fails and drops its slot",
                      "raise max_retained_wal_bytes if the source has the room, or migrate at a quieter time"))
    if free_bytes is not None and est.retained_bytes > free_bytes:
        out.append(_w("retained WAL", f"{said}: more than the {_gb(free_bytes)} free where the source keeps its "
                                      f"WAL (pg_wal): its disk could fill",
                      "make room on the source, set max_retained_wal_bytes below its free space (the run then "
                      "fails before the disk fills), or migrate at a quieter time"))
    if not cap and free_bytes is None:
        out.append(_w("retained WAL", f"{said}; the source's free storage cannot be read from here to check it "
                                      f"against (on RDS/Aurora: check FreeStorageSpace in CloudWatch)",
                      "set max_retained_wal_bytes below the source's free storage: the run then fails and drops "
                      "its slot before the disk fills"))
    return out


def check_retained_wal(ctx: Context) -> list[Finding]:
    if ctx.wal_sample_s <= 0:
        return []
    rate = sample_wal_rate(lambda: current_lsn(ctx.source), ctx.wal_sample_s, ctx.clock, ctx.sleep)
    size = ctx.source_bytes
    if size is None:
        oids = [r.oid for r in ctx.plan.relations]
        size = int(fetch_one(ctx.source, "sum_relation_sizes", oids=oids)["bytes"]) if oids else 0
    est = WalEstimate.of(rate, size)
    free = local_free_bytes(ctx.source, ctx.source_host, "pg_wal") if ctx.source_host else None
    log.info("retained WAL estimate: %.2f MB/s of WAL over %g s, a load of about %.0f min: %.2f GB (cap %s, free "
             "in pg_wal %s)", rate / 1e6, ctx.wal_sample_s, est.load.total_seconds() / 60, est.retained_bytes / 1e9,
             _gb(ctx.max_retained_wal_bytes) if ctx.max_retained_wal_bytes else "none",
             _gb(free) if free is not None else "not visible from here")
    return retained_wal_findings(est, ctx.wal_sample_s, size, ctx.max_retained_wal_bytes, free)


def check_subscription_selection(ctx: Context) -> list[Finding]:
    if ctx.engine != "subscription":
        return []
    renamed, columns, left_out = [], [], []
    for r in ctx.plan.data_tables:
        if r.target != r.source:
            renamed.append(f"{_ident(r.source)} -> {_ident(r.target)}")
        columns += [f"{_ident(r.source)}.{quote_ident(c.name)} -> {quote_ident(c.target_name)}"
                    for c in r.columns if c.target_name != c.name]
        left_out += [f"{_ident(r.source)}.{quote_ident(c)}" for c in r.dropped_columns]
    out = []
    if renamed or columns:
        out.append(_e("subscription selection",
                      f"apply_engine subscription cannot apply renames: a subscription writes each change to the "
                      f"table and columns of the same names on the target; renamed here: "
                      f"{names_list(renamed + columns)}",
                      "remove the renames (Param rename), or choose apply_engine pgferry, which applies them"))
    if left_out:
        out.append(_e("subscription selection",
                      f"apply_engine subscription cannot leave columns out: the source sends every column and the "
                      f"target's table lacks {names_list(left_out)}",
                      "migrate every column of these tables, or choose apply_engine pgferry"))
    return out


def check_subscription_privilege(ctx: Context) -> list[Finding]:
    if ctx.engine != "subscription" or ctx.target is None:
        return []
    p = fetch_one(ctx.target, "show_subscription_privileges")
    user, db = quote_ident(p["user"]), quote_ident(p["database"])
    if p["superuser"] or p["rds_superuser"]:
        return []
    if p["version_num"] >= 160000:
        missing = ([] if p["create_subscription_role"] else [f"GRANT pg_create_subscription TO {user}"]) + \
                  ([] if p["create_on_database"] else [f"GRANT CREATE ON DATABASE {db} TO {user}"])
        if missing:
            return [_e("subscription privilege", f"the target user {p['user']} may not CREATE SUBSCRIPTION "
                                                 f"(apply_engine subscription)",
                       "; ".join(missing) + " (or run as a superuser, or choose apply_engine pgferry)")]
        if not ctx.source_has_password:
            return [_e("subscription privilege",
                       f"the target user {p['user']} is not a superuser, so its subscription must log in to the "
                       f"source with a password (password_required), and the source connection has none",
                       "give the source's Airflow connection a password and make the source's pg_hba.conf ask "
                       "the target's address for it (scram-sha-256), or run the target as a superuser")]
        return []
    return [_e("subscription privilege", f"the target user {p['user']} may not CREATE SUBSCRIPTION (apply_engine "
                                         f"subscription): before PostgreSQL 16 only a superuser may",
               f"run the target connection as a superuser (on RDS: GRANT rds_superuser TO {user}), or choose "
               f"apply_engine pgferry")]


ALL_CHECKS = (check_online_version, check_logical_decoding, check_replication_capacity, check_replication_privilege,
              check_replica_identity, check_unlogged_tables, check_large_objects, check_leftover_slots,
              check_apply_privilege, check_retained_wal, check_subscription_selection,
              check_subscription_privilege)


def _could_not_run(check, e: Exception) -> Finding:
    if not isinstance(e, psycopg.Error):
        raise e
    return _e(check_name(check), f"could not run: {e.diag.message_primary or e}")


def online_findings(ctx: Context) -> list[Finding]:
    """Every online check; one that cannot run is a blocking finding of its own, and the rest still run."""
    return run_checks(ALL_CHECKS, ctx, _could_not_run)


def publishable(ctx: Context) -> list[QualifiedName]:
    """The tables the run's publication lists: every table with data, except unlogged ones (a publication
    refuses them)."""
    unlogged = {r["oid"] for r in _identities(ctx) if r["persistence"] == "u"}
    return [r.source for r in ctx.plan.data_tables if r.oid not in unlogged]
