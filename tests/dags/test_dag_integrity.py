"""Every DAG file imports cleanly, does no work at parse time, and is set up the way operators expect."""
import json
import subprocess
import sys

import pytest

from localstack import ROOT

DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag
    return DagBag(str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_dag_ids_match_file_names(dagbag):
    static = {p.stem for p in DAG_FILES if p.stem != "scheduled_migrations"}
    assert static <= set(dagbag.dag_ids)


# tasks that must not retry on their own: a precheck or validate failure needs a person, not a second try
NO_RETRIES = {"postgres_logical_migration": {"precheck", "validate"},
              # the snapshot holder: a second try would hand the lanes a different snapshot; the approval: a
              # second try would ask again and wait another approval_timeout_h instead of aborting
              "postgres_online_migration": {"precheck", "online_load.hold_snapshot", "approve_cutover", "validate"},
              "rds_snapshot_to_aurora": {"precheck", "publish_endpoints"}}


@pytest.mark.parametrize("dag_id", sorted(NO_RETRIES))
def test_tags_retries_docs_and_params(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert "pgferry" in dag.tags
    assert dag.doc_md and len(dag.doc_md) > 100
    if dag_id in ("postgres_logical_migration", "postgres_online_migration"):
        assert dag.max_active_runs == 1   # two loads into one target would race
    assert NO_RETRIES[dag_id] <= set(dag.task_ids), "an exemption names a task the DAG does not have"
    for task in dag.tasks:
        if task.task_id not in NO_RETRIES[dag_id]:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
    for name in dag.params:
        param = dag.params.get_param(name)
        assert param.schema.get("title") and (param.description or param.schema.get("description")), \
            f"{dag_id} Param {name} lacks a title or description"
        assert "type" in param.schema, f"{dag_id} Param {name} has no JSON-schema type"


# each DAG's guide page (docs/<page>); scheduled DAGs point at how to declare them
GUIDE_PAGES = {"postgres_logical_migration": "logical-migration.md", "postgres_online_migration": "online-migration.md",
               "rds_snapshot_to_aurora": "snapshot-to-aurora.md", "scheduled_migration_": "ui.md"}


def guide_page(dag_id: str) -> str:
    return next(page for prefix, page in GUIDE_PAGES.items() if dag_id == prefix or
                (prefix.endswith("_") and dag_id.startswith(prefix)))


def test_every_dag_is_owned_by_pgferry_and_names_its_guide_page(dagbag):
    """The UI's Owner column says pgferry, not airflow, and each DAG's docs lead to a page that exists."""
    assert any(d.startswith("scheduled_migration_") for d in dagbag.dag_ids)      # the test's migrations.yaml
    for dag_id, dag in dagbag.dags.items():
        assert dag.owner == "pgferry", f"{dag_id} is owned by {dag.owner!r}"
        assert {t.owner for t in dag.tasks} == {"pgferry"}, dag_id
        page = guide_page(dag_id)
        assert f"`docs/{page}" in dag.doc_md, f"{dag_id}'s doc_md does not name docs/{page}"
        assert (ROOT / "docs" / page).is_file(), page


def test_a_configured_guide_address_makes_the_doc_md_a_link():
    """With PGFERRY_DOCS_URL set where the dag-processor runs, doc_md links to the page of the built guide
    (MkDocs' directory URLs); without it, a relative link would lead nowhere in the UI, so none is made."""
    from include.pgferry.guide import guide_line, page_url
    base = "https://docs.example.com/pgferry/"
    assert page_url("logical-migration.md", base=base) == "https://docs.example.com/pgferry/logical-migration/"
    assert page_url("index.md", base=base) == "https://docs.example.com/pgferry/"
    assert page_url("ui.md", "declare", base=base) == "https://docs.example.com/pgferry/ui/#declare"
    assert page_url("ui.md", base="") is None
    linked = guide_line("snapshot-to-aurora.md", "T", base=base)
    assert "](https://docs.example.com/pgferry/snapshot-to-aurora/)" in linked
    assert "](" not in guide_line("snapshot-to-aurora.md", "T", base="")
    probe = ("import json, runpy; g = runpy.run_path('dags/postgres_logical_migration.py'); "
             "print(json.dumps(g['postgres_logical_migration'].doc_md))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT), "PGFERRY_DOCS_URL": base})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(https://docs.example.com/pgferry/logical-migration/)" in json.loads(out.stdout.strip().splitlines()[-1])


def test_logical_migration_runs_in_dts_order_with_independent_steps_side_by_side(dagbag):
    dag = dagbag.dags["postgres_logical_migration"]
    assert dag.get_task("precheck").upstream_task_ids == set()
    # every step reads the precheck's plan from XCom; what matters is what else it waits for
    up = {t.task_id: set(t.upstream_task_ids) - {"precheck"} for t in dag.tasks}
    assert up["structure"] == set() and up["plan_lanes"] == set()
    assert up["copy_lane"] == {"structure", "plan_lanes"}          # no row before the tables exist
    assert up["sequences"] == {"structure"}                         # next to the lanes: a load moves no sequence
    # the steps after the lanes also read plan_lanes' post-data statements (one schema dump for all)
    assert {"triggers_and_foreign_keys", "finalize"} <= set(dag.get_task("plan_lanes").downstream_task_ids)
    up = {task: deps - {"plan_lanes"} for task, deps in up.items()}
    assert up["triggers_and_foreign_keys"] == {"copy_lane", "sequences"}   # last, as DTS
    assert up["finalize"] == {"triggers_and_foreign_keys"}
    assert up["large_objects"] == {"structure"}                     # next to the lanes, after the roles' objects
    # every table's rows are read once the keys are in place, beside finalize (which changes no row); not
    # beside the keys step, which on a target with few cores it would slow as much as it saves
    assert up["compare_rows"] == {"copy_lane", "triggers_and_foreign_keys"}
    assert up["validate"] == {"finalize", "copy_lane", "large_objects", "compare_rows"}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_touches_no_database_network_or_heavy_module(path):
    """Import the DAG file in a fresh interpreter with sockets disabled; heavy modules stay unloaded."""
    probe = f"""
import json, socket, sys
sys.path.insert(0, {str(ROOT)!r})
def refuse(*a, **k):
    raise RuntimeError("network use at DAG parse time")
socket.socket.connect = refuse
socket.create_connection = refuse
import runpy
runpy.run_path({str(path)!r})
heavy = [m for m in ("psycopg", "boto3", "botocore", "pglast", "include.pgferry.logical", "include.pgferry.pg",
                     "include.pgferry.model", "include.pgferry.checks.pg") if m in sys.modules]
print(json.dumps(heavy))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_every_pool_a_dag_uses_is_declared_in_airflow_settings(dagbag):
    """A task in a pool that does not exist is never scheduled: each one must be declared."""
    import yaml
    declared = {p["pool_name"] for p in
                yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())["airflow"]["pools"]}
    used = {t.pool for dag in dagbag.dags.values() for t in dag.tasks if t.pool != "default_pool"}
    assert used and used <= declared, used - declared
