"""Which failures a retry can heal, and which it cannot.

Network-level failures (a dropped flow, a restarted server, no bytes for the no-progress bound, a lock that
did not come within lock_timeout_s: its holder may be gone by the next try) are retried, with exponential
backoff up to a cap (dag_factory.RETRY_ARGS). Failures that a second try only repeats fail the task at once,
with AirflowFailException, so the run stops on the message that names what to fix: bad credentials or a
database that does not exist, a precheck refusal, rows that break a foreign key, a validation difference,
objects in the way, SQL the target refuses.
"""
from __future__ import annotations

from typing import Callable

# SQLSTATE classes of errors that a retry repeats: 0A feature not supported, 22 data exception,
# 23 integrity constraint (a foreign key that does not hold), 28 invalid authorization, 2B dependent objects,
# 3D invalid database, 3F invalid schema, 42 syntax error or access rule (privileges, undefined objects)
PERMANENT_SQLSTATE_CLASSES = {"0A", "22", "23", "28", "2B", "3D", "3F", "42"}
# what libpq says, without an SQLSTATE, when the server refuses the login itself
PERMANENT_CONNECT_MESSAGES = ("password authentication failed", "no pg_hba.conf entry", "does not exist",
                              "permission denied", "authentication failed", "certificate verify failed")


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def permanent_reason(exc: BaseException) -> str | None:
    """Why a retry cannot heal `exc` (None: it may; retry)."""
    import psycopg

    from include.pgferry.checks.findings import PrecheckFailed
    from include.pgferry.logical.copying import TriggersInTheWay
    from include.pgferry.logical.claims import OtherPlan
    from include.pgferry.logical.loaded_blocks import OtherCut
    from include.pgferry.logical.validate import ValidationFailed
    from include.pgferry.pg.endpoint import ConnectionSettingsError
    from include.pgferry.pg.locks import LockWaitTimeout

    for e in _chain(exc):
        if isinstance(e, LockWaitTimeout):
            return None                     # someone else's lock: it may be released before the next try
        if isinstance(e, PrecheckFailed):
            return "the precheck refused the run"
        if isinstance(e, ValidationFailed):
            return "the target differs from the source"
        if isinstance(e, TriggersInTheWay):
            return "triggers or foreign keys on the target would act on the load"
        if isinstance(e, OtherPlan):
            return "the target's list of this run's units was written by another plan"
        if isinstance(e, OtherCut):
            return "the target holds block ranges of another cut of the table"
        if isinstance(e, ConnectionSettingsError):
            return "the Airflow connection must be fixed"
        if type(e).__name__ == "AirflowNotFoundException":
            return "the Airflow connection does not exist"
        if isinstance(e, psycopg.Error):
            state = e.sqlstate or ""
            if state[:2] in PERMANENT_SQLSTATE_CLASSES:
                return f"the server refused it (SQLSTATE {state})"
            if not state and isinstance(e, psycopg.OperationalError) and \
                    any(m in str(e) for m in PERMANENT_CONNECT_MESSAGES):
                return "the server refused the login"
            return None                     # a network or server-state error: retry
        if str(e).startswith("foreign keys left NOT VALID"):
            return "rows break foreign keys"
    return None


def run_classified(fn: Callable, *args, **kwargs):
    """Run a task body; a failure no retry can heal becomes AirflowFailException (no retry), with the
    original message first."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        reason = permanent_reason(e)
        if reason is None:
            raise
        from airflow.sdk.exceptions import AirflowFailException
        raise AirflowFailException(f"{e}\n(not retried: {reason})") from e
