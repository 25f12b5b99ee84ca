"""Operate pgferry the way Airflow users do: the trigger forms in a real browser, and the run report on
the run's page."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.browser.conftest import ARTIFACTS
from localstack import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.integration]
DOCS_IMG = ROOT / "docs" / "img"


def publish_screenshot(name: str):
    """Refresh the guide's screenshots (docs/img/) only when asked (PGFERRY_UPDATE_DOCS_IMG=1): a test run
    must not change tracked files."""
    if os.environ.get("PGFERRY_UPDATE_DOCS_IMG") == "1":
        shutil.copy(ARTIFACTS / name, DOCS_IMG / name)
SCHEMAS = ["crm", "inventory", "sales", "audit"]


def open_trigger_form(page, url: str, dag_id: str):
    page.goto(f"{url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Run Parameters").wait_for()
    return dialog


def table_fingerprints(cluster, dbname: str) -> dict[str, tuple[int, str]]:
    """Rows and an order-free content hash of every table, read with plain SQL (not pgferry's checks)."""
    tables = cluster.query("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                           "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' ORDER BY 1",
                           dbname, params=(SCHEMAS,))
    out = {}
    for (name,) in tables:
        schema, table = name.split(".")
        out[name] = cluster.query(f'SELECT count(*), md5(coalesce(string_agg(t::text, E\'\\n\' ORDER BY t::text), \'\')) '
                                  f'FROM "{schema}"."{table}" t', dbname)[0]
    return out


def test_trigger_the_logical_migration_from_its_form_and_read_the_report(page, airflow_ui, pg_source, pg_target,
                                                                          shop_databases):
    source_db, target_db = shop_databases
    url, api = airflow_ui["url"], airflow_ui["api"]
    dialog = open_trigger_form(page, url, "postgres_logical_migration")

    # every field a person fills, through its widget
    dialog.locator("#element_source_conn_id").fill("browser_source")
    dialog.locator("#element_target_conn_id").fill("browser_target")
    dialog.locator("#element_objects").fill("\n".join(SCHEMAS))          # list field: one per line
    dialog.locator("input[name=element_parallelism]").fill("3")                     # number field with bounds
    assert dialog.get_by_text("Structure: schemas, tables, views").count() == 1   # choice list, labelled
    assert dialog.get_by_text("Parallelism (1-32)").count() == 1
    dialog.screenshot(path=ARTIFACTS / "logical_migration_form.png")

    submit = dialog.get_by_test_id("trigger-dag-submit")
    assert submit.is_enabled()
    submit.click()
    run = api.wait_for_run("postgres_logical_migration", timeout=200)
    states = api.task_states("postgres_logical_migration", run["dag_run_id"])
    assert run["state"] == "success", states
    assert run["conf"]["source_conn_id"] == "browser_source" and run["conf"]["parallelism"] == 3
    assert run["conf"]["objects"] == SCHEMAS
    assert sum(1 for t in states if t.startswith("copy_lane[")) >= 2       # the lanes ran in parallel slots

    # the data, read independently on both sides
    source, target = table_fingerprints(pg_source, source_db), table_fingerprints(pg_target, target_db)
    assert len(source) == 10 and source["sales.order_lines"][0] > 100_000
    assert target == source

    # the report: XCom of validate, and the run page's "Run report" tab
    table = api.get(f"/dags/postgres_logical_migration/dagRuns/{run['dag_run_id']}/taskInstances/validate/"
                    f"xcomEntries/pgferry_report_table")["value"]
    assert table.startswith("pgferry validation: OK") and "sales.order_lines" in table

    page.goto(f"{url}/dags/postgres_logical_migration/runs/{run['dag_run_id']}")
    page.get_by_text("Task Instances").first.wait_for()
    page.screenshot(path=ARTIFACTS / "logical_migration_run_page.png")
    page.get_by_role("link", name="Run report").click()          # the plugin's tab on the run's page
    report = page.frame_locator("iframe").first
    report.locator("h1").filter(has_text="pgferry validation").wait_for()
    assert "OK" in report.locator("h1").inner_text()
    body = report.locator("body").inner_text()
    assert "Tables: 10/10 identical" in body
    for name in ("sales.order_lines", "crm.customers", "audit.events"):
        assert name in body
    assert "Objects by kind" in body and "Sequences:" in body and "Source writes during the run" in body
    page.wait_for_timeout(500)
    page.screenshot(path=ARTIFACTS / "logical_migration_run_report.png", full_page=True)
    publish_screenshot("logical_migration_form.png")
    publish_screenshot("logical_migration_run_report.png")


def test_the_snapshot_form_refuses_a_bad_cluster_identifier_with_the_rule(page, airflow_ui):
    url, api = airflow_ui["url"], airflow_ui["api"]
    dialog = open_trigger_form(page, url, "rds_snapshot_to_aurora")
    dialog.locator("#element_source_db_instance_identifier").fill("shop-db")
    dialog.locator("#element_db_cluster_identifier").fill("9aurora-shop")
    dialog.locator("input[name=element_replica_count]").fill("2")
    dialog.get_by_test_id("trigger-dag-submit").click()

    refusal = dialog.get_by_text("Invalid input for param db_cluster_identifier")
    refusal.wait_for()
    alert = refusal.inner_text()       # the API's refusal, shown at the top of the form
    assert "first character must be a letter" in alert                 # the rule's wording, in the form
    assert "'9aurora-shop'" in alert
    assert api.runs("rds_snapshot_to_aurora") == []                      # refused: no run exists
    dialog.screenshot(path=ARTIFACTS / "snapshot_form_refusal.png")
    publish_screenshot("snapshot_form_refusal.png")


def test_a_scheduled_migration_form_shows_its_window_and_the_override(page, airflow_ui):
    url, api = airflow_ui["url"], airflow_ui["api"]
    dag = api.wait_for_dag("scheduled_migration_shop_nightly")
    assert dag["timetable_summary"] == "30 2 * * *" and dag["max_active_runs"] == 1
    dialog = open_trigger_form(page, url, "scheduled_migration_shop_nightly")
    assert dialog.get_by_text("Low-traffic window").count() == 1
    assert dialog.get_by_text("Ignore the window (manual runs)").count() == 1
    dialog.screenshot(path=ARTIFACTS / "scheduled_migration_form.png")
    publish_screenshot("scheduled_migration_form.png")
