"""The online DAG's task bodies: each opens its own sessions from the Params and reads what earlier tasks
decided from XCom, as the logical tasks do; the pieces are online/slot, holder, apply, follow, freeze.

Tasks that read under the run's snapshot (structure, the copy lanes) are not downstream of the holder,
which ends only when they are done: they wait, bounded, for its XCom `snapshot`. The apply runs until
the freeze task's XCom gives the freeze LSN, or the abort task's XCom `stop` says to stop.
"""
from __future__ import annotations

import logging
import time

import psycopg

from include.pgferry.checks.findings import log_findings, raise_if_blocking
from include.pgferry.logical.common import endpoints
from include.pgferry.model import Plan, QualifiedName
from include.pgferry.online import apply as ap
from include.pgferry.online import follow, freeze, holder, pgoutput as po
from include.pgferry.online import precheck as online_checks
from include.pgferry.online import slot as sl
from include.pgferry.online import subscription as sub

log = logging.getLogger("pgferry")

GROUP = "online_load"
HOLD, STRUCTURE, PLAN_LANES, COPY_LANE = (f"{GROUP}.hold_snapshot", f"{GROUP}.structure", f"{GROUP}.plan_lanes",
                                          f"{GROUP}.copy_lane")
FREEZE, ABORT = "freeze_source", "abort"
SNAPSHOT_WAIT_S = 600
DDL_ADVICE = "DDL during the run is not replicated: apply it on the target, or abort and start again"
POKE_S = 5


def names_of(ti) -> sl.RunNames:
    return sl.RunNames.of(ti.dag_id, ti.run_id)


def precheck_online(params: dict, names: sl.RunNames) -> dict:
    """The logical precheck, then the online checks on its plan; one failure listing every blocking finding."""
    from include.pgferry.logical.precheck import precheck
    state = precheck(params)
    source_ep, target_ep = endpoints(params)
    with source_ep.connect(autocommit=True, application_name="pgferry precheck") as source, \
            target_ep.connect(autocommit=True, application_name="pgferry precheck") as target:
        ctx = online_checks.Context(source, Plan.from_xcom(state["plan"]), target, (names.slot, names.temporary_slot),
                                    wal_sample_s=float(params.get("wal_sample_s", online_checks.WAL_SAMPLE_S) or 0),
                                    max_retained_wal_bytes=params.get("max_retained_wal_bytes"),
                                    source_bytes=state.get("source_bytes"), source_host=source_ep.host,
                                    engine=sub.engine_of(params), source_has_password=bool(source_ep.password))
        findings = online_checks.online_findings(ctx)
        log_findings(findings, "online precheck")
        raise_if_blocking(findings)
        state["publish"] = [q.to_xcom() for q in online_checks.publishable(ctx)]
    state["warnings"] = state.get("warnings", []) + [f.as_dict() for f in findings]
    state["online"] = {"slot": names.slot, "temporary_slot": names.temporary_slot, "publication": names.publication}
    return state


def create_publication(params: dict, state: dict) -> str:
    source_ep, _ = endpoints(params)
    with source_ep.connect(autocommit=True, application_name="pgferry publication") as source:
        sl.create_publication(source, state["online"]["publication"],
                              [QualifiedName.from_xcom(q) for q in state["publish"]])
    return state["online"]["publication"]


def _count(ti, task_ids: list[str], states: list[str] | None = None) -> int:
    return ti.get_ti_count(dag_id=ti.dag_id, task_ids=task_ids, run_ids=[ti.run_id], states=states)


def load_done(ti) -> bool:
    """Structure, the lane plan and every copy lane succeeded; a failed one ends the hold (the load must be
    cleared, and a new snapshot made)."""
    if _count(ti, [STRUCTURE, PLAN_LANES, COPY_LANE], ["failed", "upstream_failed"]):
        raise sl.SlotError("a task reading under the snapshot failed: fix its cause, then clear the whole "
                           "online_load group to load again from a new snapshot")
    if _count(ti, [STRUCTURE], ["success"]) < 1 or _count(ti, [PLAN_LANES], ["success"]) < 1:
        return False
    lanes = _count(ti, [COPY_LANE])
    return lanes > 0 and _count(ti, [COPY_LANE], ["success"]) == lanes


def hold_snapshot(params: dict, state: dict, ti) -> dict:
    source_ep, _ = endpoints(params)
    names = state["online"]
    with source_ep.connect(autocommit=True, application_name="pgferry holder watch") as watch:
        # a retried holder makes the same temporary slot: its earlier try's must be gone first
        sl.wait_released(watch, names["temporary_slot"])
        h = sl.SnapshotHolder(lambda: source_ep.connect(autocommit=True, application_name="pgferry snapshot holder",
                                                        replication="database"),
                              names["temporary_slot"], float(params.get("slot_create_timeout_s") or 300))
        return holder.hold(h, watch, names["slot"], publish=lambda e: ti.xcom_push(key="snapshot", value=e.to_xcom()),
                           load_done=lambda: load_done(ti), max_retained_bytes=params.get("max_retained_wal_bytes"),
                           max_hold_s=float(params.get("max_hold_s") or 86400), poke_s=POKE_S,
                           clock=time.monotonic, pause=time.sleep)


def wait_snapshot(ti) -> str:
    """The holder's exported snapshot, once it has pushed it (bounded)."""
    deadline = time.monotonic() + SNAPSHOT_WAIT_S
    while time.monotonic() < deadline:
        exported = ti.xcom_pull(task_ids=HOLD, key="snapshot")
        if exported:
            return exported["snapshot"]
        time.sleep(2)
    raise sl.SlotError(f"no snapshot from {HOLD} within {SNAPSHOT_WAIT_S} s: is it running? (pool, its log)")


def _under_the_snapshot(step, params: dict, state: dict, ti):
    """Run a pg_dump-reading step (structure, plan_lanes) with the holder's snapshot in `state["snapshot"]`.
    pg_dump --snapshot reports a dead holder only in its stderr: say what to do, and do not retry (no try
    can import a snapshot whose holder is gone), as a copy lane does."""
    try:
        return step(params, {**state, "snapshot": wait_snapshot(ti)})
    except Exception as e:
        if "invalid snapshot identifier" not in str(e):
            raise
        from airflow.sdk.exceptions import AirflowFailException
        raise AirflowFailException(f"{sl.HOLDER_GONE}\n({str(e).strip()})\n(not retried: the snapshot is "
                                   f"gone)") from e


def structure_online(params: dict, state: dict, ti) -> dict:
    from include.pgferry.logical.structure import structure
    return _under_the_snapshot(structure, params, state, ti)


def plan_lanes_online(params: dict, state: dict, ti) -> dict:
    """The logical plan_lanes, its post-data dumped under the run's snapshot: indexes, constraints and
    triggers as of the starting point, as the structure is (one made on the source during the load is not
    planned; one dropped does not fail its statement)."""
    from include.pgferry.logical.plan_lanes import plan_lanes
    return _under_the_snapshot(plan_lanes, params, state, ti)


def copy_lane_online(params: dict, lane: list, ti) -> list:
    from include.pgferry.logical.copy_lane import copy_lane
    return copy_lane(params, lane, snapshot=wait_snapshot(ti))


class _Stopped(Exception):
    pass


class SessionLost(RuntimeError):
    """The apply's source or target session broke (a restart, a dropped flow): retried, from the committed
    progress (the psycopg error it wraps is not a permanent one)."""


def subscription_source(params: dict, source_ep) -> dict:
    """libpq parameters of the address at which the target server reaches the source (password included:
    never log or return them unmasked)."""
    return sub.source_params(source_ep, params.get("subscription_source_host"), params.get("subscription_source_port"))


def apply_by_subscription(params: dict, state: dict) -> dict:
    """apply_changes of apply_engine "subscription": the target's subscription on the run's slot, made (or found
    by a retry) and seen running with a session on the source; then the task ends: the target server applies."""
    source_ep, target_ep = endpoints(params)
    names = sl.RunNames(**state["online"])
    address = subscription_source(params, source_ep)
    with source_ep.connect(autocommit=True, application_name="pgferry subscription") as source, \
            target_ep.connect(autocommit=True, application_name="pgferry subscription") as target:
        made = sub.create(target, names.subscription, address, names.publication, names.slot)
        running = sub.wait_running(source, target, names.subscription, names.slot, address)
    return {"engine": sub.SUBSCRIPTION, "subscription": names.subscription, "made": made,
            "source": sub.masked(address), **running}


def apply_changes(params: dict, state: dict, ti) -> dict:
    if sub.engine_of(params) == sub.SUBSCRIPTION:
        return apply_by_subscription(params, state)
    source_ep, target_ep = endpoints(params)
    names = state["online"]
    cap = params.get("max_retained_wal_bytes")

    def freeze_lsn():
        if ti.xcom_pull(task_ids=ABORT, key="stop"):
            raise _Stopped
        frozen = ti.xcom_pull(task_ids=FREEZE)
        return po.lsn_int(frozen["freeze_lsn"]) if frozen else None

    def on_batch(s: follow.SlotState):
        follow.check_retained(s, cap, names["slot"])

    with source_ep.connect(autocommit=True, application_name="pgferry apply") as source, \
            target_ep.connect(autocommit=True, application_name="pgferry apply") as target:
        ap.ensure_bookkeeping(target)
        ap.open_target_session(target, float(params.get("lock_timeout_s") or 180))
        worker = ap.ApplyWorker(source, target, Plan.from_xcom(state["plan"]), names["slot"], names["publication"])
        try:
            return follow.follow_until_freeze(worker, freeze_lsn, max_batches=10**9, pause=lambda: time.sleep(1),
                                              on_batch=on_batch)
        except _Stopped:
            log.info("abort asked the apply to stop")
            return {"aborted": True}
        except psycopg.OperationalError as e:
            lost = [side for side, c in (("source", source), ("target", target)) if c.broken or c.closed]
            if not lost:
                raise
            raise SessionLost(f"apply_changes lost its {' and '.join(lost)} session ({str(e).strip()}): the "
                              f"server restarted or the connection broke. Nothing is half-applied (the batch's "
                              f"target transaction rolled back, or it committed with its progress before the slot "
                              f"moved); the next try goes on from the committed progress") from e


def freeze_source(params: dict, state: dict, mode: str) -> dict:
    """Freeze the source; with apply_engine "subscription" also wait until the subscription confirmed the freeze
    LSN and remove it (pgferry's apply_changes instead ends by itself once it applied through that LSN)."""
    started = time.time()       # the downtime counts from here: the application may be stopped from now on
    source_ep, target_ep = endpoints(params)
    with source_ep.connect(autocommit=True, application_name="pgferry freeze") as source:
        out = freeze.freeze(source, Plan.from_xcom(state["plan"]), mode, clock=time.time)
        log.info("source frozen (%s) at %s", mode, out["freeze_lsn"])
        if sub.engine_of(params) == sub.SUBSCRIPTION:
            names = sl.RunNames(**state["online"])
            with target_ep.connect(autocommit=True, application_name="pgferry subscription") as target:
                out["subscription"] = sub.finish_at_freeze(source, target, names.subscription, names.slot,
                                                           names.publication, po.lsn_int(out["freeze_lsn"]),
                                                           subscription_source(params, source_ep))
    return {**out, "started_at": started}


APPLY, WAIT_CAUGHT_UP, APPROVE = "apply_changes", "wait_caught_up", "approve_cutover"


def online_report(ti, frozen: dict, validated_at: float | None, tables: list[dict] | None = None) -> dict:
    """The online part of the run report, from the earlier tasks' XComs; logged and pushed to XCom."""
    from include.pgferry.report import model, publish, text
    report = model.online_report(ti.xcom_pull(task_ids=WAIT_CAUGHT_UP, key="lag"),
                                 ti.xcom_pull(task_ids=APPROVE, key="response"), frozen, validated_at,
                                 ti.xcom_pull(task_ids=APPLY), tables)
    for line in text.online_lines(report):
        log.info("%s", line)
    ti.xcom_push(key=publish.ONLINE_KEY, value=report)
    return report


def validate_online(params: dict, state: dict, frozen: dict, copies: list, ti=None, pre: dict | None = None) -> dict:
    """The logical validate, with the no-writes proof starting at the freeze; the apply's bookkeeping on the
    target and the run's publication on the source go first (the apply is done), so each side holds exactly
    what the other has. Structure changed on the source during the run (DDL is not replicated) is named
    table by table, object by object, with what to do. With `ti` (inside the task) the online part of the
    report follows it, also when validation failed (then without a downtime: the cutover did not end).
    `pre`: prevalidate's result; the tables it settles (only the buckets changed since are read again, on
    the bookkeeping that goes next) are not read whole (online/prevalidation.py)."""
    from include.pgferry.logical.validate import validate
    from include.pgferry.online.prevalidation import settle
    source_ep, target_ep = endpoints(params)
    settled = settle(params, state, pre) if pre else {}
    with target_ep.connect(autocommit=True, application_name="pgferry cleanup") as target:
        sl.remove_bookkeeping(target, state["online"]["slot"])
    with source_ep.connect(autocommit=True, application_name="pgferry cleanup") as source:
        sl.drop_publication(_writable(source), state["online"]["publication"])
    validated_at, report = None, {}
    try:
        report = validate(params, {**state, "write_counters": frozen["write_counters"]}, copies,
                          ddl_advice=DDL_ADVICE, settled=settled)
        validated_at = time.time()
    finally:
        online = online_report(ti, frozen, validated_at, report.get("tables")) if ti is not None else None
    return {**report, "online": online} if online else report


def _writable(source):
    """A session that may write on a source frozen read-only (the freeze sets the database's default)."""
    source.execute("SET default_transaction_read_only = off")
    return source


def cleanup(params: dict, state: dict, frozen: dict | None, validated: dict | None = None) -> dict:
    source_ep, target_ep = endpoints(params)
    with source_ep.connect(autocommit=True, application_name="pgferry cleanup") as source, \
            target_ep.connect(autocommit=True, application_name="pgferry cleanup") as target:
        _writable(source)
        removed = sl.cleanup(source, target, sl.RunNames(**state["online"]))
    report = {"removed": removed}
    downtime = ((validated or {}).get("online") or {}).get("downtime_s")
    if downtime is not None:
        report["downtime_s"] = downtime
        log.info("cutover done: %.1f s of downtime, from freeze_source's start to validate's end", downtime)
    return report


def abort(params: dict, state: dict, ti) -> dict:
    """Stop the apply, then remove slot, publication and bookkeeping, and make the source writable."""
    ti.xcom_push(key="stop", value=True)
    deadline = time.monotonic() + SNAPSHOT_WAIT_S
    while _count(ti, ["apply_changes"], ["running", "queued", "scheduled", "up_for_retry"]) and \
            time.monotonic() < deadline:
        time.sleep(2)
    source_ep, _ = endpoints(params)
    out = cleanup(params, state, None)
    with source_ep.connect(autocommit=True, application_name="pgferry abort") as source:
        freeze.unfreeze(_writable(source))
    return out
