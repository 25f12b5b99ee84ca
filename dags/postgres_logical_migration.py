"""postgres_logical_migration: one PostgreSQL database (or part of it) into another, DTS-style.

Thin wiring only: every step's logic lives in include/pgferry/logical.py and is imported inside the
task, so parsing this file touches no database and imports nothing heavy.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

DOC = """
### Logical PostgreSQL migration (structure, full load, triggers and keys last)

Order as Alibaba DTS does it: **precheck** (fails with every blocking finding before the target is
touched) → **structure** (pg_dump pre-data: schemas, types, domains, tables, sequences, views, functions,
rules, operators, aggregates; renamed on the way) → **copy lanes** (COPY streamed source → target, units of
similar size, largest first) → **indexes and constraints** → **sequences** → **triggers and foreign keys**
(created last so the load neither fires triggers nor trips over key order) → **finalize** (refresh
materialized views, ANALYZE) → **validate** (rows, checksums, sequences, objects by kind, and proof
that the source took no writes).

The source must take **no writes** while this runs: there is no incremental sync in this mode.
"""

MIGRATION_PARAMS = {
    "source_conn_id": Param("pgferry_source", type="string", minLength=1, title="Source connection",
                            description="Airflow connection (type postgres) of the source database; its "
                                        "'schema' field names the database."),
    "target_conn_id": Param("pgferry_target", type="string", minLength=1, title="Target connection",
                            description="Airflow connection (type postgres) of the target database, which must "
                                        "exist already; pgferry creates the objects inside it."),
    "objects": Param([], type="array", items={"type": "string"}, title="Objects",
                     description="What to migrate, one per entry: schema, schema.table or schema.table(col, ...). "
                                 "PostgreSQL syntax: double-quote mixed case, spaces, reserved words. Empty: the "
                                 "whole database."),
    "rename": Param({}, type="object", additionalProperties={"type": "string"}, title="Renames",
                    description='Map a source name (schema, schema.table or schema.table.column) to a new bare '
                                'name, e.g. {"sales": "shop", "sales.orders.amount": "total"}.'),
    "exclude": Param([], type="array", items={"type": "string"}, title="Exclude",
                     description="schema.name of tables, views, sequences or functions to leave out (for "
                                 "example C-language functions, which cannot be migrated)."),
    "migration_types": Param(["structure", "data"], type="array",
                             items={"type": "string", "enum": ["structure", "data"]}, minItems=1, uniqueItems=True,
                             title="Migration types",
                             description="structure (schema objects, indexes, triggers, keys) and/or data (full "
                                         "load). Both by default."),
    "parallelism": Param(2, type="integer", minimum=1, maximum=32, title="Parallelism",
                         description="Copy lanes (parallel COPY streams) and parallel index builds."),
    "keep_owners": Param(True, type="boolean", title="Keep owners and grants",
                         description="Recreate owners and GRANTs (the roles must exist on the target). Off: "
                                     "everything belongs to the target connection's user."),
    "target_free_bytes": Param(None, type=["null", "integer"], minimum=0, title="Target free space (bytes)",
                               description="Free storage on the target, for the space check when the target server "
                                           "cannot tell (managed services). Empty: ask the server."),
}


@dag(
    dag_id="postgres_logical_migration",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["pgferry", "postgres", "migration"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=30)},
    params=MIGRATION_PARAMS,
    doc_md=DOC,
    render_template_as_native_obj=False,
)
def postgres_logical_migration():
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

    @task(map_index_template="{{ lane_label }}")
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

    state = precheck()
    built = structure(state)
    lanes = plan_lanes(state)
    built >> lanes
    copies = copy_lane.expand(lane=lanes)
    idx = indexes_and_constraints(state)
    copies >> idx
    seqs = sequences(state)
    idx >> seqs
    final = triggers_and_foreign_keys(state)
    seqs >> final
    fin = finalize(state)
    final >> fin
    fin >> validate(state, copies)


postgres_logical_migration()
