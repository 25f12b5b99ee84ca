"""Where a person looks: XCom (which the UI shows), and the run's "Run report" tab (app.py serves it
from those XComs).

Why XCom and a plugin tab: Airflow 3.3's task SDK offers no call that sets a DAG run's note (notes are set
only by people, through the UI or REST API) and a task must not write the metadata database itself. XCom is
the channel a task has to publish a result; the api-server reading it back for an external view on the run
page is a read, with the viewer's own login and permissions.
"""
from __future__ import annotations

REPORT_KEY = "pgferry_report"          # the report as a structure
TABLE_KEY = "pgferry_report_table"     # the same as the plain-text table of the task log
ONLINE_KEY = "pgferry_online_report"   # the online DAG's validate: lag at approval, answer, downtime, apply

# (dag_id prefix, task that publishes, how to render) -- looked up by the plugin for a run's page
LOGICAL_TASK = "validate"
SNAPSHOT_PLAN_TASK = "precheck"
SNAPSHOT_LAST_TASK = "publish_endpoints"


def publish(report: dict, text: str) -> bool:
    """Push the report (also when validation failed: that is when it matters most) from inside a task.

    Outside a task (a step called directly, as the integration tests do) there is nowhere to publish."""
    from airflow.sdk import get_current_context
    try:
        ti = get_current_context()["ti"]
    except RuntimeError:
        return False
    ti.xcom_push(key=REPORT_KEY, value=report)
    ti.xcom_push(key=TABLE_KEY, value=text)
    return True


# -- the snapshot DAG: plan (precheck) + endpoints (publish_endpoints) ----------------------------------------
