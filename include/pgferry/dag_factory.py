"""The logical migration's task wiring, once, for the manual DAG and every scheduled one.

Parse-time cheap: only airflow.sdk and pendulum are imported here; each task imports
include.pgferry.logical when it runs.
"""
from __future__ import annotations

import sys

import pendulum
from airflow.sdk import dag, task

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
COPY_POOL = "pgferry_copy"


def build_logical_migration_dag(dag_id: str, *, params: dict, doc_md: str, schedule=None,
                                tags: list[str] | None = None, start_date=START_DATE, description: str | None = None):
    """One DAG: precheck -> structure (next to planning the lanes) -> copy lanes -> indexes and constraints
    (next to sequences) -> triggers and foreign keys -> finalize -> validate. One active run, no catch-up: two loads into one target would race."""

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        tags=tags or ["pgferry", "postgres", "migration"],
        default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=30)},
        params=params,
        doc_md=doc_md,
        description=description,
        render_template_as_native_obj=False,
    )
    def logical_migration():
        @task(retries=0)
        def precheck(params=None) -> dict:
            """Every check, then one failure listing all blocking findings; nothing is written anywhere."""
            from include.pgferry import logical
            return logical.precheck(params)

        @task
        def structure(state: dict, params=None) -> dict:
            """pg_dump pre-data, filtered and renamed, restored in one transaction."""
            from include.pgferry import logical
            return logical.structure(params, state)

        @task
        def plan_lanes(state: dict, params=None) -> list:
            """Work units of similar size, largest first, dealt to `parallelism` copy lanes."""
            from include.pgferry import logical
            return logical.plan_lanes(params, state)

        # the pool caps COPY streams across every pgferry run on this Airflow (airflow_settings.yaml)
        @task(map_index_template="{{ lane_label }}", pool=COPY_POOL)
        def copy_lane(lane: list, params=None) -> list:
            """Streams each unit of this lane with COPY; each unit first clears its own rows."""
            from airflow.sdk import get_current_context

            from include.pgferry import logical
            get_current_context()["lane_label"] = logical.lane_label(lane)
            return logical.copy_lane(params, lane)

        @task(trigger_rule="none_failed")
        def indexes_and_constraints(state: dict, params=None) -> dict:
            from include.pgferry import logical
            return logical.indexes_and_constraints(params, state)

        @task(trigger_rule="none_failed")
        def sequences(state: dict, params=None) -> dict:
            from include.pgferry import logical
            return logical.sequences(params, state)

        @task(trigger_rule="none_failed")
        def triggers_and_foreign_keys(state: dict, params=None) -> dict:
            """Created last, as DTS does; foreign keys are added NOT VALID, then validated one by one."""
            from include.pgferry import logical
            return logical.triggers_and_foreign_keys(params, state)

        @task(trigger_rule="none_failed")
        def finalize(state: dict, params=None) -> dict:
            from include.pgferry import logical
            return logical.finalize(params, state)

        @task(trigger_rule="none_failed", retries=0)
        def validate(state: dict, copies: list, params=None) -> dict:
            """Rows, checksums, sequences, objects by kind, and proof that the source took no writes."""
            from include.pgferry import logical
            return logical.validate(params, state, list(copies or []))

        # Steps that do not need each other run side by side, so that fewer Airflow hops (each a task
        # start-up plus a scheduler loop) lie between trigger and cutover: the lanes are planned while the
        # structure is restored (planning reads only the source), and sequences are set while leftover
        # indexes are built.
        state = precheck()
        built = structure(state)
        lanes = plan_lanes(state)
        copies = copy_lane.expand(lane=lanes)
        built >> copies
        idx = indexes_and_constraints(state)
        seqs = sequences(state)
        copies >> [idx, seqs]
        final = triggers_and_foreign_keys(state)
        [idx, seqs] >> final
        fin = finalize(state)
        final >> fin
        fin >> validate(state, copies)

    built = logical_migration()
    # the DAG belongs to the file in dags/ that called this, not to this module: Airflow re-parses that
    # file to run a task and shows it in the Code tab
    built.fileloc = sys._getframe(1).f_code.co_filename
    return built
