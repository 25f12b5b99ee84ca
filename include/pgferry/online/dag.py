"""The online migration's task wiring (dags/postgres_online_migration.py calls it).

precheck -> create_publication -> [online_load: hold_snapshot | structure, plan_lanes -> copy lanes]
  -> triggers_and_foreign_keys -> finalize;  hold_snapshot -> apply_changes (runs until the freeze)
  -> wait_caught_up (deferrable), beside finalize -> prevalidate -> approve_cutover (human in the loop: "Cut over" / "Abort")
  -> freeze_source -> [sequences | large_objects | apply_changes done] -> validate -> cleanup
  -> abort (the other branch, or a failed/timed-out approval): stop the apply, remove everything, unfreeze.
With apply_engine "subscription", apply_changes creates the target's subscription on the run's slot and ends
once its worker runs; freeze_source waits until it confirmed the freeze LSN and removes it.

Parse-time cheap, as dag_factory.py: each task imports its module when it runs.
"""
from __future__ import annotations

import sys
from datetime import timedelta

from airflow.providers.standard.operators.hitl import HITLBranchOperator
from airflow.sdk import BaseSensorOperator, Param, TaskGroup, dag, task

from include.pgferry.checks.airflow import COPY_POOL
from include.pgferry.dag_factory import DAGRUN_TIMEOUT, EXECUTION_TIMEOUT, RETRY_ARGS, START_DATE, _run
from include.pgferry.guide import OWNER
from include.pgferry.migration_params import migration_params

CUT_OVER, ABORT = "Cut over", "Abort"
LONG = timedelta(hours=72)


def online_params() -> dict:
    return {
        **migration_params(),
        "max_lag_bytes": Param(16 * 1024 * 1024, type="integer", minimum=0, title="Ready for cutover at lag (bytes)",
                               description="The approval is asked once the apply is at most this far behind."),
        "max_retained_wal_bytes": Param(None, type=["null", "integer"], minimum=0, title="Retained WAL cap (bytes)",
                                        description="Fail (and drop the slot) before the run's slot keeps more WAL "
                                                    "than this on the source. Empty: no cap."),
        "wal_sample_s": Param(10, type="integer", minimum=0, maximum=600, title="WAL rate sample (seconds)",
                              description="The online precheck samples the source's WAL rate this long to estimate "
                                          "the WAL the run's slot keeps during the load (warned when over the "
                                          "retained WAL cap or the free storage). 0: no sample, no estimate."),
        "cutover_assignees": Param([], type="array", items={"type": "string", "minLength": 1},
                                   title="Who may approve the cutover",
                                   description="Airflow user ids, one per line. Empty: anyone allowed to answer "
                                               "required actions."),
        "apply_engine": Param("pgferry", type="string", enum=["pgferry", "subscription"], title="Change apply engine",
                              values_display={"pgferry": "pgferry's workers apply the changes (renames kept)",
                                              "subscription": "a native subscription on the target applies them"},
                              description="pgferry: Airflow's workers read the slot and apply to the target (only "
                                          "they need to reach both sides). subscription: CREATE SUBSCRIPTION on the "
                                          "target, attached to the run's slot: the target server must reach the "
                                          "source, stores the source's password in pg_subscription, and no "
                                          "renames or left-out columns are possible."),
        "subscription_source_host": Param(None, type=["null", "string"], minLength=1,
                                          title="Source host as the target sees it (subscription)",
                                          description="Where the TARGET server reaches the source, for "
                                                      "apply_engine subscription. Empty: the source connection's "
                                                      "host."),
        "subscription_source_port": Param(None, type=["null", "integer"], minimum=1, maximum=65535,
                                          title="Source port as the target sees it (subscription)",
                                          description="Empty: the source connection's port."),
        "apply_stall_s": Param(900, type="integer", minimum=60, maximum=86400, title="Apply stall bound (seconds)",
                               description="wait_caught_up fails when the run's slot has not moved for this long "
                                           "while the apply is behind: apply_changes died after its retries or is "
                                           "stuck (or the subscription's worker keeps failing)."),
        "approval_timeout_h": Param(72, type="number", minimum=0.001, maximum=720, title="Approval waits (hours)",
                                    description="An unanswered approval fails after this long and the run aborts: "
                                                "a timeout never cuts over. Fractions allowed (0.5: 30 minutes)."),
    }


class WaitCaughtUp(BaseSensorOperator):
    """Deferrable: waits on the triggerer (online/lag_trigger.py) until the apply is at most max_lag_bytes behind.
    Its return value is the last look in words (the approval's body shows it); XCom `lag` the same look's
    numbers (lag_bytes, lag_seconds, retained_bytes), for the run report."""

    def poke(self, context) -> bool:        # only used if deferral is unavailable
        return False

    def execute(self, context):
        from include.pgferry.online.lag_trigger import DEFAULT_STALL_S, ApplyLagTrigger
        from include.pgferry.online.tasks import names_of
        p = context["params"]
        self.defer(trigger=ApplyLagTrigger(source_conn_id=p["source_conn_id"], target_conn_id=p["target_conn_id"],
                                           slot=names_of(context["ti"]).slot, max_lag_bytes=int(p["max_lag_bytes"]),
                                           poke_s=5, max_looks=17280,
                                           stall_s=int(p.get("apply_stall_s") or DEFAULT_STALL_S)),
                   method_name="execute_complete", timeout=timedelta(hours=24))

    def execute_complete(self, context, event):
        from airflow.sdk.exceptions import AirflowFailException
        if event.get("data"):
            context["ti"].xcom_push(key="lag", value=event["data"])
        if event["status"] != "success":
            raise AirflowFailException(event["message"])
        self.log.info("%s", event["message"])
        return event["message"]


class ApproveCutover(HITLBranchOperator):
    """The run's Params choose who may answer and how long the question waits (read when it is asked)."""

    def execute(self, context):
        p = context["params"]
        self.assigned_users = [{"id": u, "name": u} for u in p.get("cutover_assignees") or []] or None
        self.response_timeout = timedelta(hours=float(p.get("approval_timeout_h") or 72))
        return super().execute(context)

    def execute_complete(self, context, event):
        if event.get("error_type") == "timeout":
            # no default option: the provider fails the task (HITLTimeoutError), and abort (all_done) runs
            self.log.error("no answer within approval_timeout_h (%s h): not cutting over; abort removes the slot, "
                           "the publication and the bookkeeping, and the source stays writable",
                           context["params"].get("approval_timeout_h"))
        # the branch's return value is the chosen task ids: the answer's form (freeze_mode) and who gave it
        # (the audit trail of the cutover) travel apart
        if "error" not in event:
            at = event.get("responded_at")
            context["ti"].xcom_push(key="response", value={"chosen_options": list(event["chosen_options"]),
                                                           "params_input": dict(event["params_input"] or {}),
                                                           "responded_by": event.get("responded_by_user"),
                                                           "responded_at": at.isoformat() if hasattr(at, "isoformat")
                                                           else at})
        return super().execute_complete(context, event)


def build_online_migration_dag(dag_id: str, doc_md: str):
    @dag(dag_id=dag_id, schedule=None, start_date=START_DATE, catchup=False, max_active_runs=1,
         tags=["pgferry", "postgres", "migration", "online"], default_args={**RETRY_ARGS, "owner": OWNER},
         dagrun_timeout=DAGRUN_TIMEOUT, params=online_params(), doc_md=doc_md)
    def online_migration():
        @task.short_circuit(retries=0, execution_timeout=EXECUTION_TIMEOUT["precheck"])
        def precheck(params=None) -> dict:
            from airflow.sdk import get_current_context

            from include.pgferry.online import tasks
            ti = get_current_context()["ti"]
            state = _run(params, tasks.precheck_online, tasks.names_of(ti))
            if (params or {}).get("precheck_only"):
                ti.xcom_push(key="state", value=state)
                return {}
            return state

        @task
        def create_publication(state: dict, params=None) -> str:
            from include.pgferry.online import tasks
            return _run(params, tasks.create_publication, state)

        with TaskGroup("online_load") as load:
            @task(retries=0, execution_timeout=LONG)
            def hold_snapshot(state: dict, params=None) -> dict:
                from airflow.sdk import get_current_context

                from include.pgferry.online import tasks
                return _run(params, tasks.hold_snapshot, state, get_current_context()["ti"])

            @task(execution_timeout=EXECUTION_TIMEOUT["structure"])
            def structure(state: dict, params=None) -> dict:
                from airflow.sdk import get_current_context

                from include.pgferry.online import tasks
                return _run(params, tasks.structure_online, state, get_current_context()["ti"])

            @task(execution_timeout=EXECUTION_TIMEOUT["plan_lanes"])
            def plan_lanes(state: dict, params=None) -> list:
                from airflow.sdk import get_current_context

                from include.pgferry.online import tasks
                ti = get_current_context()["ti"]
                planned = _run(params, tasks.plan_lanes_online, state, ti)
                ti.xcom_push(key="post_data", value=planned["post_data"])
                ti.xcom_push(key="lane_count", value=len(planned["lanes"]))
                return planned["lanes"]

            @task(map_index_template="{{ lane_label }}", pool=COPY_POOL, execution_timeout=EXECUTION_TIMEOUT["copy_lane"])
            def copy_lane(lane: list, params=None) -> list:
                from airflow.sdk import get_current_context

                from include.pgferry.logical import copy_lane as lanes, progress
                from include.pgferry.model import Lane
                from include.pgferry.online import tasks
                context = get_current_context()
                ti = context["ti"]
                label = lanes.lane_label(ti.map_index, ti.xcom_pull(task_ids=tasks.PLAN_LANES, key="lane_count"))
                context["lane_label"] = label
                p = params or {}
                # its share sets the first deadline; each unit it takes beyond it adds to it (progress.take)
                progress.start_lane(label, sum(u.bytes for u in Lane.from_xcom(lane).units),
                                    p.get("no_progress_timeout_s"), p.get("lane_min_mb_per_s"))
                return _run(params, tasks.copy_lane_online, lane, context["ti"])

        @task(trigger_rule="none_failed", execution_timeout=EXECUTION_TIMEOUT["triggers_and_foreign_keys"])
        def triggers_and_foreign_keys(state: dict, post_data: dict, params=None) -> dict:
            from include.pgferry.logical import triggers_and_foreign_keys
            return _run(params, triggers_and_foreign_keys.triggers_and_foreign_keys, state, post_data)

        @task(trigger_rule="none_failed", execution_timeout=EXECUTION_TIMEOUT["finalize"])
        def finalize(state: dict, post_data: dict, params=None) -> dict:
            from include.pgferry.logical import finalize
            return _run(params, finalize.finalize, state, post_data)

        @task(execution_timeout=LONG)
        def apply_changes(state: dict, params=None) -> dict:
            from airflow.sdk import get_current_context

            from include.pgferry.online import tasks
            return _run(params, tasks.apply_changes, state, get_current_context()["ti"])

        wait_caught_up = WaitCaughtUp(task_id="wait_caught_up")

        # retries=0: a retry would ask again and wait another approval_timeout_h; a timed-out approval aborts
        approve = ApproveCutover(
            task_id="approve_cutover", retries=0, subject="Cut over {{ dag_run.run_id }}?",
            body="Where the apply stands: **{{ ti.xcom_pull(task_ids='wait_caught_up') }}**.\n\n"
                 "Pre-validation: {{ (ti.xcom_pull(task_ids='prevalidate') or {}).get('summary') }}.\n\n"
                 "*Cut over* freezes the source (freeze_mode), applies the last changes, sets sequences, copies "
                 "large objects, validates and removes the slot. *Abort* removes the slot, publication and "
                 "bookkeeping and leaves the source writable.",
            options=[CUT_OVER, ABORT], options_mapping={CUT_OVER: "freeze_source", ABORT: "abort"},
            params={"freeze_mode": Param("read_only", type="string", enum=["read_only", "stopped"],
                                         title="How to freeze the source",
                                         description="read_only: pgferry makes the database read-only and ends "
                                                     "the application's sessions. stopped: you have stopped the "
                                                     "application; pgferry checks that no one still writes.")})

        @task
        def freeze_source(state: dict, params=None) -> dict:
            from airflow.sdk import get_current_context

            from include.pgferry.online import tasks
            answer = get_current_context()["ti"].xcom_pull(task_ids="approve_cutover", key="response") or {}
            mode = (answer.get("params_input") or {}).get("freeze_mode") or "read_only"
            return _run(params, tasks.freeze_source, state, mode)

        @task(execution_timeout=EXECUTION_TIMEOUT["sequences"])
        def sequences(state: dict, params=None) -> dict:
            from include.pgferry.logical import sequences
            return _run(params, sequences.sequences, state)

        @task(execution_timeout=EXECUTION_TIMEOUT["large_objects"])
        def large_objects(state: dict, params=None) -> dict:
            from include.pgferry.logical import large_objects
            return _run(params, large_objects.large_objects, state)

        @task(execution_timeout=EXECUTION_TIMEOUT["validate"])
        def prevalidate(state: dict, params=None) -> dict:
            """Checksums every table by bucket while the apply runs, so that validate at the cutover reads
            again only the buckets changed since (online/prevalidation.py)."""
            from include.pgferry.online import prevalidation
            return _run(params, prevalidation.prevalidate, state)

        @task(retries=0, execution_timeout=EXECUTION_TIMEOUT["validate"])
        def validate(state: dict, frozen: dict, copies: list, pre: dict, params=None) -> dict:
            """As the logical validate; the no-writes proof starts at the freeze, not at precheck. Also
            publishes the report's online part (lag at approval, the answer, downtime, apply counts)."""
            from airflow.sdk import get_current_context

            from include.pgferry.online import tasks
            return _run(params, tasks.validate_online, state, frozen, list(copies or []),
                        get_current_context()["ti"], pre)

        @task
        def cleanup(state: dict, frozen: dict, validated: dict, params=None) -> dict:
            from include.pgferry.online import tasks
            return _run(params, tasks.cleanup, state, frozen, validated)

        @task(trigger_rule="all_done")
        def abort(params=None) -> dict:
            """Also after a failure before the approval; nothing to undo when the precheck did not pass."""
            from airflow.sdk import get_current_context
            from airflow.sdk.exceptions import AirflowSkipException

            from include.pgferry.online import tasks
            ti = get_current_context()["ti"]
            state = ti.xcom_pull(task_ids="precheck")
            if not state:
                raise AirflowSkipException("the precheck did not pass: nothing was made to undo")
            return _run(params, tasks.abort, state, ti)

        state = precheck()
        published = create_publication(state)
        with load:
            held = hold_snapshot(state)
            built = structure(state)
            planned = plan_lanes(state)
            copies = copy_lane.expand(lane=planned)
            built >> copies
        published >> [held, built, planned]
        keys = triggers_and_foreign_keys(state, planned["post_data"])
        [copies, held] >> keys
        fin = finalize(state, planned["post_data"])
        keys >> fin
        applied = apply_changes(state)
        held >> applied
        [held, fin] >> wait_caught_up >> approve
        # beside the wait for the apply: the approval is asked once both are done
        pre = prevalidate(state)
        fin >> pre >> approve
        frozen = freeze_source(state)
        approve >> [frozen, abort()]
        # the frozen source's sequences and large objects are final, and the apply touches neither: both run
        # beside its final catch-up; validate waits for all three
        seqs = sequences(state)
        blobs = large_objects(state)
        frozen >> [seqs, blobs]
        checked = validate(state, frozen, copies, pre)
        [seqs, blobs, applied] >> checked
        cleanup(state, frozen, checked)

    built = online_migration()
    built.fileloc = sys._getframe(1).f_code.co_filename
    return built
