"""The logical migration's task wiring, once, for the manual DAG and every scheduled one.

Parse-time cheap: only airflow.sdk and pendulum are imported here; each task imports its own module,
include.pgferry.logical.<task id>, when it runs.

Failure policy (docs/failure-and-recovery.md): every task body runs through `_run`, which sets the run's
dead-peer bound and the task's identity (application_name) for the sessions it opens, and turns failures no
retry can heal into AirflowFailException (include/pgferry/failures.py); the others are retried with
exponential backoff up to a cap (RETRY_ARGS), enough tries for a few minutes of outage. Every task has an
execution_timeout ceiling and the run a dagrun_timeout; a copy lane also bounds itself by its own bytes
(logical/progress.py), since a mapped task cannot get an execution_timeout per map index.
"""
from __future__ import annotations

import sys
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from include.pgferry.checks.airflow import COPY_POOL, POKE_S
from include.pgferry.guide import OWNER

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
# 10, 20, 40, 80, 120, 120 s (plus Airflow's jitter): about 6.5 minutes of outage ridden out
RETRY_ARGS = {"retries": 6, "retry_delay": timedelta(seconds=10), "retry_exponential_backoff": 2.0,
              "max_retry_delay": timedelta(minutes=2)}
# ceilings: a task past them is stuck, whatever it holds (a lane's own bound is tighter, from its bytes)
EXECUTION_TIMEOUT = {"precheck": timedelta(minutes=30), "structure": timedelta(hours=4),
                     "plan_lanes": timedelta(hours=1), "copy_lane": timedelta(hours=24),
                     "watch_lanes": timedelta(hours=25), "sequences": timedelta(minutes=30), "large_objects": timedelta(hours=12),
                     "triggers_and_foreign_keys": timedelta(hours=24), "finalize": timedelta(hours=12),
                     "compare_rows": timedelta(hours=12), "validate": timedelta(hours=12)}
DAGRUN_TIMEOUT = timedelta(hours=72)


def _run(params: dict, body, *args):
    """A task body with the run's dead-peer bound, its sessions named for this try of this task (so a retry
    finds what its earlier tries left on the target), and the retry classification."""
    from airflow.sdk import get_current_context

    from include.pgferry.failures import run_classified
    from include.pgferry.pg import session_names
    from include.pgferry.pg.endpoint import configure_dead_peer

    configure_dead_peer((params or {}).get("dead_peer_timeout_s"))
    session_names.configure(session_names.TaskIdentity.of(get_current_context()["ti"]))
    try:
        return run_classified(body, params, *args)
    finally:
        session_names.configure(None)      # dag.test() runs every task in one process


def build_logical_migration_dag(dag_id: str, *, params: dict, doc_md: str, schedule=None,
                                tags: list[str] | None = None, start_date=START_DATE, description: str | None = None,
                                dagrun_timeout: timedelta = DAGRUN_TIMEOUT):
    """One DAG: precheck -> structure (next to planning the lanes) -> copy lanes (next to sequences) ->
    leftover indexes and constraints, triggers and foreign keys -> finalize (next to compare_rows, the read of
    every table's rows) -> validate. One active run, no catch-up: two loads into one target would race."""

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        tags=tags or ["pgferry", "postgres", "migration"],
        default_args={**RETRY_ARGS, "owner": OWNER},
        dagrun_timeout=dagrun_timeout,
        params=params,
        doc_md=doc_md,
        description=description,
        render_template_as_native_obj=False,
    )
    def logical_migration():
        # a short circuit: a precheck-only run returns nothing, which skips every later task whatever its
        # trigger rule; its findings stay in XCom under "state"
        @task.short_circuit(retries=0, execution_timeout=EXECUTION_TIMEOUT["precheck"])
        def precheck(params=None) -> dict:
            """Every check, then one failure listing all blocking findings; nothing is written anywhere."""
            from airflow.sdk import get_current_context

            from include.pgferry.logical import precheck
            state = _run(params, precheck.precheck)
            if (params or {}).get("precheck_only"):
                get_current_context()["ti"].xcom_push(key="state", value=state)
                return {}
            return state

        @task(execution_timeout=EXECUTION_TIMEOUT["structure"])
        def structure(state: dict, params=None) -> dict:
            """pg_dump pre-data, filtered and renamed, restored in one transaction."""
            from include.pgferry.logical import structure
            return _run(params, structure.structure, state)

        @task(execution_timeout=EXECUTION_TIMEOUT["plan_lanes"])
        def plan_lanes(state: dict, params=None) -> list:
            """Work units of similar size, written to the target's list of the run, from which each copy lane
            takes the largest left; one share per lane, dealt largest first (the return value, mapped over:
            `parallelism` lanes); and, as XCom `post_data`, the post-data statements (indexes, triggers, foreign keys)
            of the later steps, from one schema dump."""
            from airflow.sdk import get_current_context

            from include.pgferry.logical import plan_lanes
            planned = _run(params, plan_lanes.plan_lanes, state)
            # Airflow maps only over a return value, so the statements travel under their own key
            ti = get_current_context()["ti"]
            ti.xcom_push(key="post_data", value=planned["post_data"])
            ti.xcom_push(key="lane_count", value=len(planned["lanes"]))
            return planned["lanes"]

        # the pool caps COPY streams across every pgferry run on this Airflow (airflow_settings.yaml)
        @task(map_index_template="{{ lane_label }}", pool=COPY_POOL, execution_timeout=EXECUTION_TIMEOUT["copy_lane"])
        def copy_lane(lane: list, params=None) -> list:
            """Takes the run's units, largest first, from the target's list, until none is left (any lane
            takes any unit: the lanes end together); each unit first clears its own rows and is marked done in
            its transaction. The lane bounds itself: no bytes from the source for no_progress_timeout_s, or
            longer than its bytes at lane_min_mb_per_s plus a floor, fails it (and its retry takes what is
            left)."""
            from airflow.sdk import get_current_context

            from include.pgferry.logical import copy_lane, progress
            from include.pgferry.model import Lane
            context = get_current_context()
            ti = context["ti"]
            label = copy_lane.lane_label(ti.map_index, ti.xcom_pull(task_ids="plan_lanes", key="lane_count"))
            context["lane_label"] = label
            p = params or {}
            # its share sets the first deadline; each unit it takes beyond it adds to it (progress.take)
            progress.start_lane(label, sum(u.bytes for u in Lane.from_xcom(lane).units),
                                p.get("no_progress_timeout_s"), p.get("lane_min_mb_per_s"))
            return _run(params, copy_lane.copy_lane, lane)

        # a sensor in reschedule mode: no worker slot held between looks, and dag.test() runs the lanes
        # between two looks (it runs one task at a time)
        @task.sensor(mode="reschedule", poke_interval=POKE_S, timeout=EXECUTION_TIMEOUT["watch_lanes"],
                     execution_timeout=EXECUTION_TIMEOUT["watch_lanes"])
        def watch_lanes(lanes: list, params=None) -> bool:
            """Fails, naming the pool and the command that creates it, when the copy lanes are ready but none
            starts within lane_start_timeout_s (a missing pool is otherwise a silent, endless wait)."""
            import pendulum as _pendulum
            from airflow.sdk import get_current_context
            from airflow.sdk.exceptions import AirflowFailException

            from include.pgferry.checks import airflow as airflow_checks
            context = get_current_context()
            ti = context["ti"]
            first = ti.get_first_reschedule_date(context)
            waited = (_pendulum.now("UTC") - first).total_seconds() if first else 0.0

            def count(states):
                return ti.get_ti_count(dag_id=ti.dag_id, task_ids=["copy_lane"], run_ids=[ti.run_id], states=states)
            bound = (params or {}).get("lane_start_timeout_s") or airflow_checks.LANE_START_S
            try:
                return airflow_checks.lanes_started(count, len(lanes), waited, bound, pool=COPY_POOL)
            except airflow_checks.LanesCannotStart as e:
                raise AirflowFailException(str(e)) from e

        @task(execution_timeout=EXECUTION_TIMEOUT["sequences"])
        def sequences(state: dict, params=None) -> dict:
            """setval to the source's values, next to the copy lanes (a load never moves a sequence)."""
            from include.pgferry.logical import sequences
            return _run(params, sequences.sequences, state)

        @task(execution_timeout=EXECUTION_TIMEOUT["large_objects"])
        def large_objects(state: dict, params=None) -> dict:
            """Large objects (whole-database runs), with owners, privileges and comments, next to the lanes."""
            from include.pgferry.logical import large_objects
            return _run(params, large_objects.large_objects, state)

        @task(trigger_rule="none_failed", execution_timeout=EXECUTION_TIMEOUT["triggers_and_foreign_keys"])
        def triggers_and_foreign_keys(state: dict, post_data: dict, params=None) -> dict:
            """Created last, as DTS does, after what indexes and constraints the lanes left; foreign keys are
            added NOT VALID, then validated on parallel sessions."""
            from include.pgferry.logical import triggers_and_foreign_keys
            return _run(params, triggers_and_foreign_keys.triggers_and_foreign_keys, state, post_data)

        @task(trigger_rule="none_failed", execution_timeout=EXECUTION_TIMEOUT["finalize"])
        def finalize(state: dict, post_data: dict, params=None) -> dict:
            from include.pgferry.logical import finalize
            return _run(params, finalize.finalize, state, post_data)

        @task(trigger_rule="none_failed", execution_timeout=EXECUTION_TIMEOUT["compare_rows"])
        def compare_rows(state: dict, params=None) -> dict:
            """Every table's rows and content checksum on both sides, once the keys are in place, beside
            finalize (which changes no row); validate reuses each table that matched."""
            from include.pgferry.logical import compare_rows
            return _run(params, compare_rows.compare_rows, state)

        @task(trigger_rule="none_failed", retries=0, execution_timeout=EXECUTION_TIMEOUT["validate"])
        def validate(state: dict, copies: list, compared: dict | None, params=None) -> dict:
            """Rows, checksums, sequences, objects by kind, and proof that the source took no writes; every
            table and sequence pg_dump would dump (the source's catalog decides, not the plan). The tables
            compare_rows found identical are not read again."""
            from include.pgferry.logical import validate
            return _run(params, validate.validate, state, list(copies or []), None, (compared or {}).get("tables"))

        # Steps that do not need each other run side by side, so that fewer Airflow hops (each a task
        # start-up plus a scheduler loop) lie between trigger and cutover: the lanes are planned while the
        # structure is restored (planning reads only the source), and sequences are set while the lanes
        # copy. The indexes and constraints the lanes leave are built by the keys step itself.
        state = precheck()
        built = structure(state)
        planned = plan_lanes(state)
        copies = copy_lane.expand(lane=planned)
        built >> copies
        built >> watch_lanes(planned)
        seqs = sequences(state)
        built >> seqs
        final = triggers_and_foreign_keys(state, planned["post_data"])
        [copies, seqs] >> final
        fin = finalize(state, planned["post_data"])
        final >> fin
        blobs = large_objects(state)
        built >> blobs
        # the read of every table's rows, beside finalize (which changes no row); after the keys step, not
        # beside it: on a target with few cores the two would share them, and the keys would be in place
        # later for no earlier end (docs/benchmarks.md)
        compared = compare_rows(state)
        [copies, final] >> compared
        checked = validate(state, copies, compared)
        [fin, blobs] >> checked

    built = logical_migration()
    # the DAG belongs to the file in dags/ that called this, not to this module: Airflow re-parses that
    # file to run a task and shows it in the Code tab
    built.fileloc = sys._getframe(1).f_code.co_filename
    return built
