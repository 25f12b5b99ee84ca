"""A real Airflow (localstack.airflow_server) on a private home, real source/target clusters, headless Chromium.

Chromium is Debian's /usr/bin/chromium (`make browser` installs it), driven by the playwright package's
own driver: no browser download.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from localstack import ROOT
from localstack.ports import free_port

ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
CHROMIUM = os.environ.get("PGFERRY_CHROMIUM", "/usr/bin/chromium")
# no internet here: without these Chromium keeps calling home and floods refused connections
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SOURCE_DB, TARGET_DB = "shop", "shop_copy"


class AirflowApi:
    """The REST API with the same login the browser uses: to wait for runs, never to drive the test."""

    def __init__(self, info: dict):
        self.url = info["url"]
        body = json.dumps({"username": info["username"], "password": info["password"]}).encode()
        req = urllib.request.Request(f"{self.url}/auth/token", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            self.token = json.loads(r.read())["access_token"]

    def get(self, path: str):
        req = urllib.request.Request(f"{self.url}/api/v2{path}", headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def wait_for_dag(self, dag_id: str, timeout: float = 180):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.get(f"/dags/{dag_id}")
            except urllib.error.HTTPError as e:
                if e.code != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns?order_by=-run_after&limit=20")["dag_runs"]

    def wait_for_run(self, dag_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs(dag_id)
            if runs and runs[0]["state"] in ("success", "failed"):
                return runs[0]
            time.sleep(3)
        raise TimeoutError(f"{dag_id}: no finished run after {timeout:.0f} s: {self.runs(dag_id)[:1]}")

    def task_states(self, dag_id: str, run_id: str) -> dict:
        tis = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
        return {(t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"): t["state"] for t in tis}


def _connection(cluster, dbname: str) -> str:
    return json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": cluster.port, "schema": dbname,
                       "login": "postgres"})


@pytest.fixture(scope="session")
def shop_databases(pg_source, pg_target):
    """tools/sample_db.sql (10 tables, ~90 MB) in the source; an empty target database."""
    pg_source.recreate_db(SOURCE_DB)
    pg_source.run_sql_file(ROOT / "tools" / "sample_db.sql", SOURCE_DB)
    pg_target.recreate_db(TARGET_DB)
    return SOURCE_DB, TARGET_DB


@pytest.fixture(scope="session")
def airflow_ui(pg_source, pg_target):
    """Airflow started by localstack.airflow_server on a private home, its connections pointing at the clusters
    (each test asks for its own databases: the online test needs none of the shop's 90 MB)."""
    from localstack.airflow_server import start_background, stop
    home = Path(tempfile.mkdtemp(prefix="pgferry-browser-airflow-"))
    env = {"AIRFLOW_CONN_BROWSER_SOURCE": _connection(pg_source, SOURCE_DB),
           "AIRFLOW_CONN_BROWSER_TARGET": _connection(pg_target, TARGET_DB),
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10"}
    info = start_background(home, port=free_port(), env=env)
    try:
        api = AirflowApi(info)
        for dag_id in ("postgres_logical_migration", "rds_snapshot_to_aurora"):
            api.wait_for_dag(dag_id)
        yield {**info, "api": api}
    finally:
        stop(info["pid"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(info["log"]), ARTIFACTS / "airflow-server.log")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make browser` installs Debian's chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, airflow_ui):
    """A logged-in page; a tall viewport so a whole trigger form fits in one screenshot."""
    context = chromium.new_context(viewport={"width": 1400, "height": 2600})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(airflow_ui["url"])
    page.get_by_label("Username").fill(airflow_ui["username"])
    page.get_by_label("Password").fill(airflow_ui["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{airflow_ui['url']}/")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    context.close()
