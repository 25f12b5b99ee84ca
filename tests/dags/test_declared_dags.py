"""migrations.yaml -> scheduled DAGs: the timetable fires in the window's time zone, the DAG is the logical
migration's (same tasks), and a bad declaration is an import error naming the field (rules: unit/test_declared_rules.py)."""
from __future__ import annotations

from datetime import datetime, timezone

from localstack import ROOT

SHANGHAI_NIGHTLY = """
migrations:
  - name: shop_nightly
    source_conn_id: src
    target_conn_id: tgt
    objects: [shop, "crm.customers(id, name)"]
    rename: {shop: store}
    parallelism: 4
    window: {cron: "30 2 * * *", timezone: Asia/Shanghai, length: 3h}
  - name: ny_sundays
    source_conn_id: src
    target_conn_id: tgt2
    migration_types: [data]
    window: {cron: "30 1 * * 0", timezone: America/New_York, length: 90m}
"""


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag
    return DagBag(str(ROOT / "dags"))


def _next_runs(dag, earliest: datetime, n: int) -> list[datetime]:
    """The scheduler's own next-run computation for this DAG's timetable."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction
    timetable = coerce_to_core_timetable(dag.timetable)
    runs, last = [], None
    for _ in range(n):
        info = timetable.next_dagrun_info(last_automated_data_interval=last,
                                          restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True))
        runs.append(info.run_after)
        last = DataInterval(info.run_after, info.run_after)
    return runs


def test_each_declared_migration_becomes_a_scheduled_logical_migration_dag(migrations_file):
    migrations_file(SHANGHAI_NIGHTLY)
    bag = _dagbag()
    assert not bag.import_errors
    dag = bag.dags["scheduled_migration_shop_nightly"]
    manual = bag.dags["postgres_logical_migration"]
    assert dag is not None and manual is not None
    assert dag.catchup is False and dag.max_active_runs == 1
    assert [t.task_id for t in dag.tasks] == [t.task_id for t in manual.tasks]
    assert set(manual.params) < set(dag.params)
    assert dag.params["parallelism"] == 4 and dag.params["rename"] == {"shop": "store"}
    assert dag.params["source_conn_id"] == "src"
    assert dag.params["window"] == {"cron": "30 2 * * *", "timezone": "Asia/Shanghai", "length_minutes": 180}
    assert dag.params["ignore_window"] is False
    assert "ignore_window" not in manual.params and "window" not in manual.params
    assert bag.dags["scheduled_migration_ny_sundays"].params["migration_types"] == ["data"]


def test_0230_shanghai_runs_at_1830_utc_the_day_before(migrations_file):
    migrations_file(SHANGHAI_NIGHTLY)
    dag = _dagbag().dags["scheduled_migration_shop_nightly"]
    runs = _next_runs(dag, datetime(2026, 3, 10, 0, 0, tzinfo=timezone.utc), 3)
    assert [r.isoformat() for r in runs] == ["2026-03-10T18:30:00+00:00", "2026-03-11T18:30:00+00:00",
                                            "2026-03-12T18:30:00+00:00"]
    assert all(r.in_timezone("Asia/Shanghai").strftime("%H:%M") == "02:30" for r in runs)


def test_the_schedule_follows_daylight_saving_time(migrations_file):
    # New York leaves EST (UTC-5) for EDT (UTC-4) on Sunday 2026-03-08: 01:30 local moves an hour in UTC
    migrations_file(SHANGHAI_NIGHTLY)
    dag = _dagbag().dags["scheduled_migration_ny_sundays"]
    runs = _next_runs(dag, datetime(2026, 2, 28, 0, 0, tzinfo=timezone.utc), 3)
    assert [r.isoformat() for r in runs] == ["2026-03-01T06:30:00+00:00", "2026-03-08T06:30:00+00:00",
                                            "2026-03-15T05:30:00+00:00"]


def test_a_bad_declaration_is_an_import_error_naming_the_field(migrations_file):
    path = migrations_file(SHANGHAI_NIGHTLY.replace("Asia/Shanghai", "Asia/Shangai"))
    bag = _dagbag()
    [(file, error)] = [(f, e) for f, e in bag.import_errors.items() if f.endswith("scheduled_migrations.py")]
    assert "migrations[0] (shop_nightly).window.timezone: unknown time zone 'Asia/Shangai'" in error
    assert str(path) in error
    assert "postgres_logical_migration" in bag.dag_ids      # the manual DAG is unaffected
