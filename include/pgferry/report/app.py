"""The "Run report" tab on a DAG run's page: a small FastAPI app the api-server mounts (plugins/pgferry_report.py).

It reads back the XComs the run's tasks published and renders them; it writes nothing. The viewer's own
login (the UI's session cookie) and their right to read the DAG's XComs are checked as for Airflow's API.
"""
from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from include.pgferry.report import html as report_html
from include.pgferry.report import model, publish

app = FastAPI(title="pgferry run report", docs_url=None, redoc_url=None, openapi_url=None)


def _read_xcom(session, dag_id: str, run_id: str, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    row = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key=key,
                                             map_indexes=-1)).first()
    return _plain(XComModel.deserialize_value(row)) if row is not None else None


def _plain(value):
    """XCom keeps tuples (a sequence's (last_value, is_called)) in Airflow's serde envelope: unwrap them."""
    if isinstance(value, dict):
        if "__classname__" in value and "__data__" in value:
            return _plain(value["__data__"])
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def report_body(session, dag_id: str, run_id: str) -> str:
    """The report of any pgferry run, whichever DAG; a sentence when the run has none (yet)."""
    logical = _read_xcom(session, dag_id, run_id, publish.LOGICAL_TASK, publish.REPORT_KEY)
    online = _read_xcom(session, dag_id, run_id, publish.LOGICAL_TASK, publish.ONLINE_KEY)
    if logical:
        return report_html.logical_report_html(logical, online)
    if online:
        return "<h1>pgferry online migration: validation did not report</h1>" + report_html.online_report_html(online)
    plan = _read_xcom(session, dag_id, run_id, publish.SNAPSHOT_PLAN_TASK, "return_value")
    if isinstance(plan, dict) and "db_cluster_identifier" in plan:
        endpoints = _read_xcom(session, dag_id, run_id, publish.SNAPSHOT_LAST_TASK, "return_value")
        return report_html.snapshot_report_html(model.snapshot_report(plan, endpoints))
    return ("<h1>No pgferry report for this run yet</h1><p class='muted'>The report appears when the run's last "
            "task (validate, or publish_endpoints for a snapshot migration) has run.</p>")


def _auth():
    # imported lazily: this module is also imported where no api-server runs (DAG parsing, tests)
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    return requires_access_dag(method="GET", access_entity=DagAccessEntity.XCOM)


def _session():
    from airflow.utils.session import create_session
    with create_session() as session:
        yield session


@app.get("/report/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=[Depends(_auth())])
def run_report(dag_id: str, run_id: str, session=Depends(_session)) -> HTMLResponse:
    return HTMLResponse(report_html.page(f"pgferry report {dag_id} {run_id}", report_body(session, dag_id, run_id)))
