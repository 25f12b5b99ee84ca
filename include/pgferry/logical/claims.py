"""The target's list of a run's work units, from which every copy lane takes the largest one left.

Lanes are mapped tasks on any worker: they share nothing but XCom and the databases. So the units of a run
are not dealt to lanes for good; plan_lanes writes every unit of the run into `pgferry_copy.claims` on the
target (its id, target table, bytes, a digest of its XCom form and the form itself), and each lane, until
none is left, takes the largest unit that is neither done nor being loaded:

    SELECT ... FROM pgferry_copy.claims WHERE run = ... AND done_at IS NULL
    ORDER BY bytes DESC LIMIT 1 FOR UPDATE SKIP LOCKED

inside the very target transaction that then clears and loads the unit, and which marks it done (lane, try,
the unit's result) before it commits. Claim, rows and mark commit together or not at all:

- a lane killed mid-unit (or whose unit failed) rolls back: the unit is free again, for any lane or the
  retry, with nothing of it on the target; a backend of a lost worker keeps its claim (its row lock) until
  the server ends it (keepalives) or the lane's retry does (logical/lane_retry.py);
- a unit marked done was loaded whole in this run: no lane, no retry, loads it again. A retried lane
  reports the units its earlier tries loaded from their marks (their results are stored with them);
- a fast lane takes more units than a slow one, and the lanes end about one unit apart at most.

The run is the Airflow run (session_names.run_key of its dag and run id), plus the exported snapshot in
online mode: a new snapshot (a restarted online load) is a new list, every unit loaded again under it.
Outside Airflow (tests, tools: no task identity) each copy_lane call has a list of its own, of its own share,
removed when it ends, unless the caller names one list for several lanes (copy_lane's `run`).

A list that is there already is checked by content: the same unit ids with the same digests, or refused
(`OtherPlan`, named: plan_lanes cut the data differently on a later try, and the units done under the
earlier cut cannot be told apart). A lane registers its own units too (plan_lanes dealt each lane a share,
its XCom form): after finalize removed the list, a cleared lane loads its share again.

A table is finished (indexes, constraints, ANALYZE: logical/table_finisher.py) by the lane whose unit
completes it: after its commit, it inserts the table into `pgferry_copy.finished_tables` when no unit of
the table in the list is left undone. Every lane checks after its own commit, so the last to commit sees all
done; the primary key lets one insert win.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from include.pgferry.model import QualifiedName, Unit
from include.pgferry.pg import session_names
from include.pgferry.pg.bookkeeping import create_tables
from include.pgferry.pg.names import quote_ident

log = logging.getLogger("pgferry")

SCHEMA = "pgferry_copy"
CLAIMS = QualifiedName(SCHEMA, "claims")
FINISHED = QualifiedName(SCHEMA, "finished_tables")


class OtherPlan(RuntimeError):
    """The target's list of this run's units holds other units than these: refused."""


def digest(unit: Unit) -> str:
    """What the unit is: its whole XCom form (table, columns, range, index builds)."""
    return hashlib.sha256(json.dumps(unit.to_xcom(), sort_keys=True).encode()).hexdigest()[:16]


def table_key(table: QualifiedName) -> str:
    """The target table, always quoted: "a.b"."c" and "a"."b.c" stay apart."""
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"


def run_of(snapshot: str | None = None) -> str | None:
    """This Airflow run's list (with the online load's snapshot), or None outside a task."""
    identity = session_names.current()
    if identity is None:
        return None
    return identity.run_key + (f" {snapshot}" if snapshot else "")


def local_run() -> str:
    """A list of one copy_lane call's own (no task identity: tests, tools)."""
    return f"local {uuid.uuid4().hex[:12]}"


def ensure(target: psycopg.Connection):
    """The two tables; idempotent, and safe when lanes make them at once."""
    create_tables(target, SCHEMA, [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (no bigserial UNIQUE, run text NOT NULL, unit_id text NOT NULL, "
                "table_name text NOT NULL, table_parts int NOT NULL, bytes bigint NOT NULL, digest text NOT NULL, "
                "unit jsonb NOT NULL, registered_at timestamptz NOT NULL DEFAULT now(), lane int, try int, "
                "done_at timestamptz, result jsonb, PRIMARY KEY (run, unit_id))").format(CLAIMS.identifier),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (run text NOT NULL, table_name text NOT NULL, lane int, try int, "
                "finished_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, table_name))"
                ).format(FINISHED.identifier)],
        f"pgferry: the copy lanes take their units from {CLAIMS} on the target, which the target user may not "
        f"create: GRANT CREATE ON DATABASE to it, or create the schema {SCHEMA} owned by it")


def register(target: psycopg.Connection, run: str, units: list[Unit], exact: bool = False) -> int:
    """Write the run's units (those not there yet); check those there by content. `exact` (plan_lanes): the
    run's list must be these units and no other. How many were new."""
    ensure(target)
    wanted = {u.id: digest(u) for u in units}
    with target.transaction():
        there = dict(target.execute(sql.SQL("SELECT unit_id, digest FROM {} WHERE run = %s").format(CLAIMS.identifier),
                                    (run,)).fetchall())
        differ = sorted(i for i, d in wanted.items() if i in there and there[i] != d)
        extra = sorted(set(there) - set(wanted)) if exact else []
        missing = sorted(set(wanted) - set(there)) if exact and there else []
        if differ or extra or missing:
            done = target.execute(sql.SQL("SELECT count(*) FROM {} WHERE run = %s AND done_at IS NOT NULL").format(
                CLAIMS.identifier), (run,)).fetchone()[0]
            what = "; ".join(p for p in (
                f"{len(differ)} unit(s) differ ({_few(differ)})" if differ else "",
                f"{len(extra)} unit(s) of it are not in this plan ({_few(extra)})" if extra else "",
                f"{len(missing)} unit(s) of this plan are not in it ({_few(missing)})" if missing else "") if p)
            raise OtherPlan(
                f"the target's list of this run's units ({CLAIMS}, run '{run}') was written by another plan: "
                f"{what}; {done} of its units are loaded already. Another cut cannot be mixed with it: clear the "
                f"run's copy lanes with the plan that made it, or empty the migrated tables and remove the list "
                f"(DELETE FROM {CLAIMS} WHERE run = '{run}'; DELETE FROM {FINISHED} WHERE run = '{run}') and "
                f"plan again")
        new = 0
        for u in units:
            if u.id in there:
                continue
            new += target.execute(sql.SQL(
                "INSERT INTO {} (run, unit_id, table_name, table_parts, bytes, digest, unit) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (run, unit_id) DO NOTHING").format(CLAIMS.identifier),
                (run, u.id, table_key(u.target), u.table_parts, u.bytes, wanted[u.id], Jsonb(u.to_xcom()))).rowcount
        if new < len(wanted) - len(set(wanted) & set(there)):
            # a lane wrote some of these at the same moment: what it wrote must be these units too
            now = dict(target.execute(sql.SQL("SELECT unit_id, digest FROM {} WHERE run = %s").format(
                CLAIMS.identifier), (run,)).fetchall())
            differ = sorted(i for i, d in wanted.items() if now.get(i) != d)
            if differ:
                raise OtherPlan(f"the target's list of this run's units ({CLAIMS}, run '{run}') was written by "
                                f"another plan at the same time: {len(differ)} unit(s) differ ({_few(differ)})")
    return new


def _few(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


@dataclass(frozen=True)
class Taken:
    no: int             # the claim's number (a session loading it is named with it: u<no>)
    unit: Unit
    left: tuple[str, ...]   # the run's other units not done when it was taken, largest first


def take(target: psycopg.Connection, run: str, skip: list[str] = ()) -> Taken | None:
    """Inside the unit's transaction: the largest unit of the run that no lane has done or holds (its row
    is locked until the transaction ends), but those in `skip` (this lane's failed ones); None when none is
    left."""
    row = target.execute(sql.SQL(
        "SELECT no, unit FROM {} WHERE run = %s AND done_at IS NULL AND NOT (unit_id = ANY(%s)) "
        "ORDER BY bytes DESC, unit_id LIMIT 1 FOR UPDATE SKIP LOCKED").format(CLAIMS.identifier),
        (run, list(skip))).fetchone()
    if row is None:
        return None
    unit = Unit.from_xcom(row[1])
    left = target.execute(sql.SQL("SELECT unit_id FROM {} WHERE run = %s AND done_at IS NULL AND unit_id <> %s "
                                  "ORDER BY bytes DESC, unit_id").format(CLAIMS.identifier), (run, unit.id)).fetchall()
    return Taken(row[0], unit, tuple(r[0] for r in left))


def not_done(target: psycopg.Connection, run: str) -> list[str]:
    return [r[0] for r in target.execute(sql.SQL(
        "SELECT unit_id FROM {} WHERE run = %s AND done_at IS NULL ORDER BY bytes DESC, unit_id").format(
        CLAIMS.identifier), (run,))]


def mark_done(target: psycopg.Connection, run: str, unit: Unit, lane: int, try_number: int, result: dict):
    """Inside the unit's transaction, after its load: commits with the rows, or neither does."""
    target.execute(sql.SQL("UPDATE {} SET lane = %s, try = %s, done_at = clock_timestamp(), result = %s "
                           "WHERE run = %s AND unit_id = %s").format(CLAIMS.identifier),
                   (lane, try_number, Jsonb(result), run, unit.id))


def finishes_table(target: psycopg.Connection, run: str, unit: Unit, lane: int, try_number: int) -> bool:
    """After the unit's commit: is this lane the one to finish its table (every unit of the table in the list
    done, and no other lane took the table before)? A list that holds only some of a table's units (lanes that
    wrote only their shares: no plan_lanes list, or after finalize) finishes it early: later units then load
    into an indexed table, slower, never wrong (a build skips what exists)."""
    key = table_key(unit.target)
    return target.execute(sql.SQL(
        "INSERT INTO {f} (run, table_name, lane, try) SELECT %s, %s, %s, %s "
        "WHERE NOT EXISTS (SELECT FROM {c} WHERE run = %s AND table_name = %s AND done_at IS NULL) "
        "ON CONFLICT (run, table_name) DO NOTHING").format(f=FINISHED.identifier, c=CLAIMS.identifier),
        (run, key, lane, try_number, run, key)).rowcount == 1


@dataclass(frozen=True)
class Done:
    unit_id: str
    lane: int
    try_number: int
    result: dict


def done_by(target: psycopg.Connection, run: str, lane: int, before_try: int | None = None) -> list[Done]:
    """The units lane `lane` marked done in this run (by its tries before `before_try`), largest first."""
    cond = sql.SQL(" AND try < {}").format(sql.Literal(before_try)) if before_try is not None else sql.SQL("")
    return [Done(*r) for r in target.execute(sql.SQL(
        "SELECT unit_id, lane, try, result FROM {} WHERE run = %s AND lane = %s AND done_at IS NOT NULL{} "
        "ORDER BY bytes DESC, unit_id").format(CLAIMS.identifier, cond), (run, lane))]


def forget(target: psycopg.Connection, run: str):
    """The run's list and finished tables, gone (a lane's list of its own, when it ends)."""
    with target.transaction():
        target.execute(sql.SQL("DELETE FROM {} WHERE run = %s").format(CLAIMS.identifier), (run,))
        target.execute(sql.SQL("DELETE FROM {} WHERE run = %s").format(FINISHED.identifier), (run,))
