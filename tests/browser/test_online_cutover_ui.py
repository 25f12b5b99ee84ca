"""The online migration's cutover approved the way an operator does it: in the browser, on the task's
Required Actions page (issue 17). The REST API only starts the run and watches it."""
from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from psycopg import sql

from localstack.pgcluster import PgCluster
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_operate_from_the_ui import publish_screenshot
from tests.online.conftest import LOGICAL_SETTINGS, connect
from tests.support.airflow_api import AirflowApi, wait_parking_seen

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DAG_ID, TASK = "postgres_online_migration", "approve_cutover"
SOURCE_DB, TARGET_DB = "online_shop", "online_shop_copy"
TABLES = ["shop.customers", "shop.orders", "shop.events"]
SOURCE_SQL = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE shop.orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES shop.customers,
                          total numeric(10, 2) NOT NULL, note text);
CREATE TABLE shop.events (at int NOT NULL, what text);          -- no key: matched by the whole row
ALTER TABLE shop.events REPLICA IDENTITY FULL;
INSERT INTO shop.customers (name) SELECT 'customer ' || g FROM generate_series(1, 500) g;
INSERT INTO shop.orders (customer_id, total, note)
    SELECT 1 + g % 500, g * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE repeat('x', g % 50) END
    FROM generate_series(1, 3000) g;
INSERT INTO shop.events SELECT g % 100, 'seen' FROM generate_series(1, 1000) g;
"""
# made after the load, while the approval waits: they reach the target through pgferry's apply
LATE_WRITES = """
INSERT INTO shop.customers (name) VALUES ('late customer');
UPDATE shop.orders SET total = total + 1, note = 'changed' WHERE id % 100 = 0;
DELETE FROM shop.orders WHERE id BETWEEN 2990 AND 3000;
DELETE FROM shop.events WHERE at = 7;
INSERT INTO shop.events VALUES (1000, 'late');
"""


@pytest.fixture(scope="module")
def online_source(cluster_root):
    """Its own source cluster: online mode needs wal_level=logical, which the shop's source does not have."""
    c = PgCluster(cluster_root, "browser_logical_source", settings=LOGICAL_SETTINGS).start()
    yield c
    c.destroy()


def fingerprint(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    """Rows and an order-free content hash, read with plain SQL (not pgferry's checks)."""
    schema, name = table.split(".")
    query = sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                    "FROM {} t").format(sql.Identifier(schema, name))
    return conn.execute(query).fetchone()


def xcom_value(raw):
    """An XCom entry's value as the API gives it: the stored JSON, or its text."""
    return json.loads(raw) if isinstance(raw, str) else raw


def answer_in_the_ui(page, button, tries: int = 3):
    """Click the option and see the UI send the answer (PATCH .../hitlDetails). The page refetches the
    question every few seconds and a click landing on a re-render can be lost (seen once in three runs):
    click again only when no answer left the page, at most `tries` times."""
    for attempt in range(tries):
        try:
            with page.expect_response(lambda r: "hitlDetails" in r.url and r.request.method == "PATCH",
                                      timeout=10_000) as answered:
                button.click()
        except PlaywrightTimeout:
            page.screenshot(path=ARTIFACTS / f"online_approve_cutover_click_{attempt}.png")
            continue
        assert answered.value.ok, answered.value.text()
        return answered.value
    (ARTIFACTS / "online_approve_cutover_click_failed.html").write_text(page.content())
    raise AssertionError(f"no answer sent after {tries} clicks on {button}")


def test_approve_the_cutover_in_the_browser(page, airflow_ui, online_source, pg_target):
    url = airflow_ui["url"]
    online_source.recreate_db(SOURCE_DB)
    pg_target.recreate_db(TARGET_DB)
    with connect(online_source, SOURCE_DB) as src:
        src.execute(SOURCE_SQL)

    api = AirflowApi(url, airflow_ui["username"], airflow_ui["password"])
    api.wait_for_dag(DAG_ID)
    api.postgres_connection("browser_online_source", "127.0.0.1", online_source.port, SOURCE_DB)
    api.postgres_connection("browser_online_target", "127.0.0.1", pg_target.port, TARGET_DB)
    run_id = api.trigger(DAG_ID, {"source_conn_id": "browser_online_source",
                                  "target_conn_id": "browser_online_target", "wal_sample_s": 0})
    # parked, and its parking exit taken in by the scheduler: a click before that can be lost to Airflow's race
    wait_parking_seen(api, Path(airflow_ui["log"]), DAG_ID, run_id, TASK, timeout=300)
    with connect(online_source, SOURCE_DB) as src:
        src.execute(LATE_WRITES)

    # the task's Required Actions page: the question, its body (the lag), the form and the options
    page.goto(f"{url}/dags/{DAG_ID}/runs/{run_id}/tasks/{TASK}/required_actions")
    cut_over = page.get_by_role("button", name="Cut over", exact=True)
    cut_over.wait_for()
    page.get_by_text("Where the apply stands").wait_for()       # the markdown body renders after the buttons
    body = page.locator("body").inner_text()
    assert f"Cut over {run_id}?" in body
    assert "apply lag" in body and "MB of WAL retained" in body, body
    assert page.get_by_role("button", name="Abort", exact=True).count() == 1 and cut_over.is_enabled()

    # the form's freeze_mode: the application is "stopped" (the late writes are committed)
    assert page.get_by_text("How to freeze the source").count() == 1
    try:
        page.locator("#element_freeze_mode").click()
        page.get_by_role("option", name="stopped", exact=True).click()
    except Exception:
        (ARTIFACTS / "online_approve_cutover_form.html").write_text(page.content())
        page.screenshot(path=ARTIFACTS / "online_approve_cutover_form_failed.png")
        raise
    page.get_by_text("stopped", exact=True).wait_for()
    page.set_viewport_size({"width": 1400, "height": 720})     # the page, not the tall empty viewport
    page.wait_for_timeout(300)
    page.screenshot(path=ARTIFACTS / "online_approve_cutover.png")
    publish_screenshot("online_approve_cutover.png")

    answer_in_the_ui(page, cut_over)
    run = api.wait_for_run(DAG_ID, run_id, timeout=240, poll=1)
    states = api.states(DAG_ID, run_id)
    assert run["state"] == "success", states
    assert states["abort"] == "skipped" and states["cleanup"] == "success", states

    # who answered, and what: the task's XCom `response` (freeze_source reads it)
    response = xcom_value(api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK}/xcomEntries/response")
                          ["value"])
    assert response["chosen_options"] == ["Cut over"], response
    assert response["params_input"] == {"freeze_mode": "stopped"}, response
    assert response["responded_by"]["name"] == airflow_ui["username"], response

    with connect(online_source, SOURCE_DB) as src, connect(pg_target, TARGET_DB) as tgt:
        for table in TABLES:
            assert fingerprint(tgt, table) == fingerprint(src, table), table
        assert fingerprint(tgt, "shop.customers")[0] == 501        # the late writes came through the apply
        assert src.execute("SELECT count(*) FROM pg_replication_slots "
                           "WHERE slot_name LIKE 'pgferry%'").fetchone() == (0,)
        assert src.execute("SELECT count(*) FROM pg_publication WHERE pubname LIKE 'pgferry%'").fetchone() == (0,)
