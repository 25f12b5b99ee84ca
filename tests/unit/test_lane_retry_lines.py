"""What a retried lane says per unit (logical/lane_retry) and which table locks conflict (pg/locks)."""
import pytest

from include.pgferry.logical.lane_retry import EndedBackend, RetryLog
from include.pgferry.model import KeyRange, QualifiedName, Unit
from include.pgferry.pg import locks
from include.pgferry.pg.session_names import TaskIdentity


def unit(name="events", key_range=None, part="", target=None):
    src = QualifiedName("app", name)
    return Unit(id=f"app.{name}{part}", oid=1, source=src, target=target or src, columns=("id",),
                target_columns=("id",), binary=True, range=key_range, bytes=1)


RANGED = [unit(key_range=KeyRange("id", None, 100), part=" [1/3]"),
          unit(key_range=KeyRange("id", 100, 200), part=" [2/3]"),
          unit(key_range=KeyRange("id", 200, None), part=" [3/3]"), unit("tags")]
SECOND = TaskIdentity("d", "r", "copy_lane", 0, 2)


def orphan(unit_no, rows=None, ended=True):
    return EndedBackend(pid=4242, try_number=1, unit=unit_no, role="copy", state="active", wait_event="ClientRead",
                        state_seconds=95.4, transaction_seconds=96.0, locked_tables=("app.events",),
                        copy_table="app.events" if rows is not None else None, copy_rows=rows, ended=ended)


def test_a_retry_names_each_unit_its_range_and_what_it_removed():
    """The numbers passed are the units' claim numbers (logical/claims.py), which name the sessions loading them."""
    log = RetryLog(SECOND, [])
    assert log.line(RANGED[0], 1, 99) == ("retry, copy_lane[0] try 2: unit app.events [1/3] (rows id < 100): "
                                          "found 99 rows from an earlier try, removed them before copying again")
    assert log.line(RANGED[1], 2, 0) == ("retry, copy_lane[0] try 2: unit app.events [2/3] "
                                         "(rows 100 <= id < 200): nothing there from an earlier try")
    assert "(rows id >= 200)" in log.line(RANGED[2], 3, 0)
    assert log.line(RANGED[3], 4, 40000).startswith("retry, copy_lane[0] try 2: unit app.tags: found 40000 rows")


def test_the_unit_an_ended_backend_was_loading_says_its_uncommitted_rows_were_rolled_back():
    log = RetryLog(SECOND, [orphan(2, rows=51200)])
    assert log.line(RANGED[1], 2, 0).endswith("nothing there from an earlier try; try 1's 51200 uncommitted rows "
                                              "of it rolled back (its backend pid 4242 was ended)")
    assert "rolled back" not in log.line(RANGED[0], 1, 99)


def test_a_backend_that_could_not_be_ended_claims_no_rollback():
    assert "rolled back" not in RetryLog(SECOND, [orphan(2, rows=5, ended=False)]).line(RANGED[1], 2, 0)


def test_a_first_try_speaks_only_of_rows_that_were_already_there():
    first = RetryLog(TaskIdentity("d", "r", "copy_lane", 0, 1), [])
    assert first.line(RANGED[3], 4, 0) is None
    assert first.line(RANGED[3], 4, 7) == ("copy_lane[0] try 1: unit app.tags: found 7 rows already there, "
                                           "removed them before copying")
    assert RetryLog(None, []).line(RANGED[0], 1, 0) is None


def test_a_renamed_unit_names_its_target():
    u = unit("tags", target=QualifiedName("store", "labels"))
    assert "unit app.tags into store.labels" in RetryLog(SECOND, []).line(u, 1, 3)


def test_a_unit_an_earlier_try_marked_done_is_named_skipped(caplog):
    from include.pgferry.logical.claims import Done
    with caplog.at_level("INFO", logger="pgferry"):
        RetryLog(SECOND, []).done_before(Done("app.events [1/3]", 0, 1, {"rows": 99}))
    assert caplog.messages == ["retry, copy_lane[0] try 2: unit app.events [1/3]: loaded by try 1 (99 rows, marked "
                               "done in pgferry_copy.claims), skipped"]


def test_the_ended_backend_line_says_what_it_was_doing():
    text = orphan(2, rows=51200).describe()
    assert text == ("pid 4242 of try 1 (copy); active, waiting on ClientRead, for 95 s; in a transaction for 96 s; "
                    "holding locks on app.events; its COPY into app.events had taken 51200 uncommitted rows, "
                    "which the server rolls back")


@pytest.mark.parametrize("mode, other, conflict", [
    ("RowExclusiveLock", "RowExclusiveLock", False),      # two lanes loading ranges of one table
    ("RowExclusiveLock", "ShareLock", True),              # a range load against an index build
    ("AccessExclusiveLock", "AccessShareLock", True),     # TRUNCATE against a reader
    ("ShareLock", "ShareLock", False),                    # two index builds
    ("ShareUpdateExclusiveLock", "ShareUpdateExclusiveLock", True),   # ANALYZE against autovacuum
    ("AccessShareLock", "ExclusiveLock", False),
    ("RowShareLock", "ExclusiveLock", True),
])
def test_lock_conflicts_follow_postgresqls_table(mode, other, conflict):
    assert locks.conflicts(mode, other) is conflict
    assert locks.conflicts(other, mode) is conflict        # the table is symmetric


def test_every_lock_mode_conflicts_with_access_exclusive():
    assert all(locks.conflicts(m, "AccessExclusiveLock") for m in locks.MODES.values())


def test_a_lock_timeout_message_names_table_and_holders():
    holder = locks.LockHolder(pid=777, mode="AccessShareLock", granted=True, user="report", application_name="psql",
                              state="idle in transaction", state_seconds=312.2, query="SELECT 1")
    text = locks.describe_timeout(QualifiedName("app", "tags"), "ACCESS EXCLUSIVE", 5, [holder])
    assert text.startswith("waited more than 5 s (Param lock_timeout_s) for a lock on app.tags (ACCESS EXCLUSIVE "
                           "mode): pid 777 (report, application 'psql', idle in transaction for 312 s) holds AccessShareLock")
