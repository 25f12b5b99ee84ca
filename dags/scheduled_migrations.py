"""One scheduled logical migration DAG per entry of migrations.yaml (`scheduled_migration_<name>`).

Each runs when its low-traffic window opens (CronTriggerTimetable in the window's time zone), never
catches up and never runs twice at once. Precheck refuses a run that started outside the window or whose
estimated load would not fit in it; the `ignore_window` Param overrides that for a manual run.
Parsing reads the YAML file only: no database, no network.
"""
from __future__ import annotations

from airflow.sdk import CronTriggerTimetable

from include.pgferry.dag_factory import build_logical_migration_dag
from include.pgferry.guide import guide_line
from include.pgferry.migration_params import migration_params, window_params
from include.pgferry.schedule.declared import load, migrations_file

DOC = """
### Scheduled logical migration: {name}

{description}

Declared in `{file}`. Runs when the low-traffic window opens: **{window}**
(next runs: see the DAG's schedule). Same tasks as `postgres_logical_migration`.

Before anything is written, **precheck** estimates the load (source size ÷ the throughput earlier runs
measured, Airflow Variable `pgferry_throughput_mb_s`, else 20 MB/s) and refuses a run that started
outside the window ("outside the window") or that would not fit in what is left of it ("would not fit").
A manual run can set **Ignore the window**.

""" + guide_line("ui.md", "Declare a scheduled migration in a low-traffic window",
                 "declare-a-scheduled-migration-in-a-low-traffic-window").replace("{", "{{").replace("}", "}}")

for declared in load():
    globals()[declared.dag_id] = build_logical_migration_dag(
        declared.dag_id,
        schedule=CronTriggerTimetable(declared.window.cron, timezone=declared.window.timezone),
        params={**migration_params(**declared.params), **window_params(declared.window.as_param())},
        doc_md=DOC.format(name=declared.name, description=declared.description or "",
                          file=migrations_file().name, window=declared.window.describe()),
        description=f"{declared.name}: window {declared.window.describe()}",
        tags=["pgferry", "postgres", "migration", "scheduled"],
    )
