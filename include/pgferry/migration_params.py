"""The logical migration's Params: one definition for the manual DAG and every scheduled one.

Each Param carries the JSON schema the trigger form turns into a widget (Airflow 3.3's form: an array of
strings with `examples` is a multi-select, a plain array of strings a one-per-line text box, an object a
JSON editor, an integer a number field; `values_display` labels choices) and that the API enforces on
trigger, so a bad value is refused before a run exists.
"""
from __future__ import annotations

from airflow.sdk import Param

MIGRATION_TYPE_LABELS = {"structure": "Structure: schemas, tables, views, functions, indexes, triggers, keys",
                         "data": "Data: full load of the rows (COPY)"}


def migration_params(**defaults) -> dict[str, Param]:
    """Fresh Param objects (a DAG owns its Params), with `defaults` replacing the default values."""
    d = {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target", "objects": [], "rename": {},
         "exclude": [], "migration_types": ["structure", "data"], "parallelism": 2, "keep_owners": True,
         "target_free_bytes": None, "skip_unmigratable": False, "dead_peer_timeout_s": 60,
         "no_progress_timeout_s": 120, "lane_min_mb_per_s": 1.0, "lane_start_timeout_s": 900,
         "lock_timeout_s": 180, "precheck_only": False, **defaults}
    return {
        "source_conn_id": Param(
            d["source_conn_id"], type="string", minLength=1, title="Source connection",
            examples=["pgferry_source"],
            description="Id of the Airflow connection (type postgres) to the source database; the "
                        "connection's 'schema' field names the database. Admin > Connections lists them."),
        "target_conn_id": Param(
            d["target_conn_id"], type="string", minLength=1, title="Target connection",
            examples=["pgferry_target"],
            description="Id of the Airflow connection (type postgres) to the target database, which must exist "
                        "already (empty); pgferry creates the migrated objects inside it."),
        "objects": Param(
            d["objects"], type="array", items={"type": "string", "minLength": 1}, title="Objects to migrate",
            description="One per line: a schema (shop), a table (shop.orders) or some of its columns "
                        "(shop.orders(id, total)). Double-quote names with capitals, spaces or reserved words "
                        "(\"Sales\".\"Order\"). Leave empty to migrate the whole database."),
        "rename": Param(
            d["rename"], type="object", additionalProperties={"type": "string", "minLength": 1},
            title="Renames",
            description='JSON object mapping a source name (schema, schema.table or schema.table.column) to its '
                        'new bare name on the target, e.g. {"shop": "store", "shop.orders.amount": "total"}. '
                        'Empty {}: names stay as they are.'),
        "exclude": Param(
            d["exclude"], type="array", items={"type": "string", "minLength": 1}, title="Leave out",
            description="One per line: schema.name of tables, views, sequences or functions not to migrate "
                        "(for example C-language functions, which cannot be migrated). Empty: nothing."),
        "migration_types": Param(
            d["migration_types"], type="array", items={"type": "string", "enum": list(MIGRATION_TYPE_LABELS)},
            minItems=1, uniqueItems=True, examples=list(MIGRATION_TYPE_LABELS),
            values_display=MIGRATION_TYPE_LABELS, title="Migration types",
            description="What to migrate: structure, data, or both (the default). Data alone loads into "
                        "tables that already exist on the target."),
        "parallelism": Param(
            d["parallelism"], type="integer", minimum=1, maximum=32, title="Parallelism (1-32)",
            description="Parallel COPY streams and parallel index builds, from 1 to 32. About the number of "
                        "CPU cores of the target server is a good start."),
        "keep_owners": Param(
            d["keep_owners"], type="boolean", title="Keep owners and grants",
            description="Recreate owners and GRANTs (the roles must exist on the target). Off: everything "
                        "belongs to the target connection's user."),
        "target_free_bytes": Param(
            d["target_free_bytes"], type=["null", "integer"], minimum=0, title="Target free space (bytes)",
            description="Free storage on the target, for the space check when the target server cannot tell "
                        "(managed services). Empty: ask the server."),
        "skip_unmigratable": Param(
            d["skip_unmigratable"], type="boolean", title="Leave out what cannot be migrated",
            description="Leave out the C-language functions (which cannot be migrated) and exactly the objects "
                        "that depend on them (types with C input/output functions, their operators, casts, "
                        "aggregates, columns of those types, views, indexes, triggers, ...), and what depends "
                        "on excluded functions; precheck lists every one as a warning and the rest migrates. "
                        "Off: precheck refuses and names them."),
        # failure bounds (docs/failure-and-recovery.md): production-sane defaults, seconds in the fault tests
        "dead_peer_timeout_s": Param(
            d["dead_peer_timeout_s"], type="integer", minimum=5, maximum=3600, title="Dead peer after (s)",
            description="A database peer that stops answering (a dropped network flow) is given up after about "
                        "this long, on both ends of every session: TCP keepalives and tcp_user_timeout. The "
                        "connection's own extras (keepalives_idle, tcp_user_timeout, ...) take precedence."),
        "no_progress_timeout_s": Param(
            d["no_progress_timeout_s"], type="integer", minimum=5, maximum=86400, title="No progress after (s)",
            description="A copy lane that receives no bytes from the source for this long fails (and is "
                        "retried): what ends a lane whose source flow was dropped silently."),
        "lane_min_mb_per_s": Param(
            d["lane_min_mb_per_s"], type="number", exclusiveMinimum=0, maximum=10000,
            title="Slowest acceptable lane rate (MB/s)",
            description="Each copy lane must finish within its bytes at this rate plus 15 minutes, or it fails "
                        "and is retried. Lower it for a network known to be slower."),
        "lock_timeout_s": Param(
            d["lock_timeout_s"], type="integer", minimum=1, maximum=86400, title="Lock waits end after (s)",
            description="A copy lane that waits this long for a lock on a target table fails (and is retried), "
                        "naming the table and the session(s) holding the lock. Its own earlier tries' sessions "
                        "are ended at lane start and its sibling lanes' are waited for, so only someone "
                        "else's lock (a session left open in psql, another load) trips it."),
        "lane_start_timeout_s": Param(
            d["lane_start_timeout_s"], type="integer", minimum=10, maximum=86400,
            title="Copy lanes must start within (s)",
            description="When the copy lanes are ready but none of them gets a slot of the Airflow pool "
                        "pgferry_copy for this long (the pool is missing, has 0 slots, or other runs hold them "
                        "all), the task watch_lanes fails naming the pool and the command that creates it."),
        "precheck_only": Param(
            d["precheck_only"], type="boolean", title="Precheck only",
            description="Run every precheck and stop there: the run ends with its findings (the precheck "
                        "task's log and XCom) and every other task skipped; nothing is written anywhere."),
    }


def window_params(window: dict, ignore_window: bool = False) -> dict[str, Param]:
    """The scheduled DAGs' extra Params: their declared window, and the manual override."""
    return {
        "window": Param(
            window, type="object", required=["cron", "timezone", "length_minutes"],
            properties={"cron": {"type": "string", "minLength": 9},
                        "timezone": {"type": "string", "minLength": 1},
                        "length_minutes": {"type": "integer", "minimum": 1, "maximum": 1440}},
            additionalProperties=False, title="Low-traffic window",
            description="When the window opens (cron, in timezone) and how long it lasts, as declared in "
                        "migrations.yaml. Precheck refuses a run started outside it or whose estimated load "
                        "would not fit in what is left of it."),
        "ignore_window": Param(
            ignore_window, type="boolean", title="Ignore the window (manual runs)",
            description="Start even outside the window or when the load would not fit. For a manual run "
                        "when you know the business is quiet; scheduled runs leave it off."),
    }
