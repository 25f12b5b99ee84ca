"""Which failures are retried (include/pgferry/failures): network-level ones yes, the ones a retry repeats no."""
import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from psycopg import errors

from include.pgferry.checks.findings import PrecheckFailed, error
from include.pgferry.failures import permanent_reason, run_classified
from include.pgferry.logical.copying import TriggersInTheWay
from include.pgferry.logical.loaded_blocks import OtherCut
from include.pgferry.logical.progress import LaneDeadlineExceeded, NoProgress
from include.pgferry.logical.validate import ValidationFailed
from include.pgferry.pg.ddl import DdlError
from include.pgferry.pg.endpoint import ConnectionSettingsError


def wrapped(inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as e:
            raise DdlError("structure: boom -- while running: CREATE TABLE ...") from e
    except DdlError as outer:
        return outer


@pytest.mark.parametrize("exc", [
    PrecheckFailed([error("privileges", "no SELECT on shop.orders")]),
    ValidationFailed(["shop.orders: 3 rows differ"], "report"),
    TriggersInTheWay("shop.orders has t1 on the target"),
    OtherCut("app.events [2/3]: the target's record says 3 block range(s) were loaded by another cut"),
    ConnectionSettingsError("Airflow connection 'x' has no database"),
    AirflowNotFoundException("The conn_id `x` isn't defined"),
    psycopg.OperationalError('connection failed: FATAL:  password authentication failed for user "u"'),
    psycopg.OperationalError('connection failed: FATAL:  database "nope" does not exist'),
    errors.InsufficientPrivilege("permission denied for table orders"),
    errors.ForeignKeyViolation("insert or update on table violates foreign key constraint"),
    errors.UndefinedTable('relation "shop.orders" does not exist'),
    DdlError("foreign keys left NOT VALID (or, on partitioned tables, not created) because rows break them:\n x"),
    wrapped(errors.SyntaxError("syntax error at or near")),
], ids=lambda e: type(e).__name__)
def test_failures_a_retry_repeats_are_not_retried(exc):
    assert permanent_reason(exc)
    with pytest.raises(AirflowFailException, match="not retried"):
        run_classified(lambda: (_ for _ in ()).throw(exc))


@pytest.mark.parametrize("exc", [
    NoProgress("no bytes from the source for 120 s while copying shop.orders#1"),
    LaneDeadlineExceeded("lane ran past its deadline"),
    psycopg.OperationalError("connection to server at 127.0.0.1 port 5 failed: Connection refused"),
    psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
    psycopg.OperationalError("connection timeout expired"),
    errors.AdminShutdown("terminating connection due to administrator command"),
    errors.LockNotAvailable("could not obtain lock on relation"),
    errors.QueryCanceled("canceling statement due to statement timeout"),
    errors.SerializationFailure("could not serialize access"),
    wrapped(errors.AdminShutdown("terminating connection")),
    RuntimeError("anything else"),
], ids=lambda e: type(e).__name__)
def test_network_level_failures_are_retried(exc):
    assert permanent_reason(exc) is None
    with pytest.raises(type(exc)):
        run_classified(lambda: (_ for _ in ()).throw(exc))


def test_the_original_message_comes_first():
    exc = PrecheckFailed([error("reachable", "cannot connect to the source")])
    with pytest.raises(AirflowFailException) as raised:
        run_classified(lambda: (_ for _ in ()).throw(exc))
    assert str(raised.value).startswith("precheck found 1 blocking problem(s)")
    assert raised.value.__cause__ is exc


def test_a_body_that_succeeds_returns_its_value():
    assert run_classified(lambda a, b=0: a + b, 1, b=2) == 3
