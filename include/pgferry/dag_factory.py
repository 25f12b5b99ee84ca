"""The logical migration's task wiring, once, for the manual DAG and every scheduled one.

Parse-time cheap: only airflow.sdk and pendulum are imported here; each task imports its own module,
include.pgferry.logical.<task id>, when it runs.
"""
from __future__ import annotations

import sys

import pendulum
from airflow.sdk import dag, task

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
COPY_POOL = "pgferry_copy"


def build_logical_migration_dag(dag_id: str, *, params: dict, doc_md: str, schedule=None,
                                tags: list[str] | None = None, start_date=START_DATE, description: str | None = None):
    """One DAG: precheck -> structure (next to planning the lanes) -> copy lanes (next to sequences) ->
    leftover indexes and constraints, triggers and foreign keys -> finalize -> validate. One active run,
    no catch-up: two loads into one target would race."""

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
            from include.pgferry.logical import precheck
            return precheck.precheck(params)

        @task
        def structure(state: dict, params=None) -> dict:
            """pg_dump pre-data, filtered and renamed, restored in one transaction."""
            from include.pgferry.logical import structure
            return structure.structure(params, state)

        @task
        def plan_lanes(state: dict, params=None) -> list:
            """Work units of similar size, largest first, dealt to `parallelism` copy lanes (the return value,
            mapped over); and, as XCom `post_data`, the post-data statements (indexes, triggers, foreign keys)
            of the later steps, from one schema dump."""
            from airflow.sdk import get_current_context

            from include.pgferry.logical import plan_lanes
            planned = plan_lanes.plan_lanes(params, state)
            # Airflow maps only over a return value, so the statements travel under their own key
            get_current_context()["ti"].xcom_push(key="post_data", value=planned["post_data"])
            return planned["lanes"]

        # the pool caps COPY streams across every pgferry run on this Airflow (airflow_settings.yaml)
        @task(map_index_template="{{ lane_label }}", pool=COPY_POOL)
        def copy_lane(lane: list, params=None) -> list:
            """Streams each unit of this lane with COPY; each unit first clears its own rows."""
            from airflow.sdk import get_current_context

            from include.pgferry.logical import copy_lane
            get_current_context()["lane_label"] = copy_lane.lane_label(lane)
            return copy_lane.copy_lane(params, lane)

        @task
        def sequences(state: dict, params=None) -> dict:
            """setval to the source's values, next to the copy lanes (a load never moves a sequence)."""
            from include.pgferry.logical import sequences
            return sequences.sequences(params, state)

        @task
        def large_objects(state: dict, params=None) -> dict:
            """Large objects (whole-database runs), with owners, privileges and comments, next to the lanes."""
            from include.pgferry.logical import large_objects
            return large_objects.large_objects(params, state)

        @task(trigger_rule="none_failed")
        def triggers_and_foreign_keys(state: dict, post_data: dict, params=None) -> dict:
            """Created last, as DTS does, after what indexes and constraints the lanes left; foreign keys are
            added NOT VALID, then validated on parallel sessions."""
            from include.pgferry.logical import triggers_and_foreign_keys
            return triggers_and_foreign_keys.triggers_and_foreign_keys(params, state, post_data)

        @task(trigger_rule="none_failed")
        def finalize(state: dict, post_data: dict, params=None) -> dict:
            from include.pgferry.logical import finalize
            return finalize.finalize(params, state, post_data)

        @task(trigger_rule="none_failed", retries=0)
        def validate(state: dict, copies: list, params=None) -> dict:
            """Rows, checksums, sequences, objects by kind, and proof that the source took no writes."""
            from include.pgferry.logical import validate
            return validate.validate(params, state, list(copies or []))

        # Steps that do not need each other run side by side, so that fewer Airflow hops (each a task
        # start-up plus a scheduler loop) lie between trigger and cutover: the lanes are planned while the
        # structure is restored (planning reads only the source), and sequences are set while the lanes
        # copy. The indexes and constraints the lanes leave are built by the keys step itself.
        state = precheck()
        built = structure(state)
        planned = plan_lanes(state)
        copies = copy_lane.expand(lane=planned)
        built >> copies
        seqs = sequences(state)
        built >> seqs
        final = triggers_and_foreign_keys(state, planned["post_data"])
        [copies, seqs] >> final
        fin = finalize(state, planned["post_data"])
        final >> fin
        blobs = large_objects(state)
        built >> blobs
        checked = validate(state, copies)
        [fin, blobs] >> checked

    built = logical_migration()
    # the DAG belongs to the file in dags/ that called this, not to this module: Airflow re-parses that
    # file to run a task and shows it in the Code tab
    built.fileloc = sys._getframe(1).f_code.co_filename
    return built
