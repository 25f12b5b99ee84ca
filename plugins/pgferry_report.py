"""Adds a "Run report" tab to every DAG run's page: pgferry's run report, read from the run's XComs."""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class PgferryReportPlugin(AirflowPlugin):
    name = "pgferry_report"

    @property
    def fastapi_apps(self):
        from include.pgferry.report.app import app
        return [{"app": app, "url_prefix": "/pgferry", "name": "pgferry run report"}]

    external_views = [{
        "name": "Run report",
        "href": "/pgferry/report/{DAG_ID}/{RUN_ID}",
        "destination": "dag_run",
        "url_route": "pgferry_report",
    }]
