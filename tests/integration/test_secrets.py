"""Passwords stay in the Airflow connections: not in task logs, XCom, errors or rendered templates."""
import json

import pytest

from localstack import airflow_env
from localstack.dagrun import load_dag, run_dag, xcom_value

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

PASSWORD = "pgferry-Secret-4711"


def test_passwords_never_leave_the_connection(airflow_db, pg_source, pg_target, target_db, capfd, caplog):
    pg_source.recreate_db("secrets")
    pg_source.execute("CREATE TABLE public.t (x int); INSERT INTO public.t SELECT generate_series(1, 100)",
                      dbname="secrets")
    # the test clusters trust loopback connections, so any password is accepted: it is still handed over
    airflow_env.postgres_connection("pgferry_source", pg_source.port, "secrets", password=PASSWORD)
    airflow_env.postgres_connection("pgferry_target", pg_target.port, target_db, password=PASSWORD)
    dr, states = run_dag(load_dag("postgres_logical_migration"),
                         {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target"})
    assert dr.state == "success", states
    out, err = capfd.readouterr()
    logs = out + err + caplog.text                   # task logs reach stdout or pytest's log capture
    assert "pgferry validation: OK" in logs          # the logs were captured ...
    assert PASSWORD not in logs                      # ... and hold no password
    for task_id in ("precheck", "structure", "plan_lanes", "validate"):
        assert PASSWORD not in json.dumps(xcom_value(dr, task_id), default=str)

    # a failing connection names the endpoint, never the password
    airflow_env.postgres_connection("pgferry_target", 1, target_db, password=PASSWORD)
    from include.pgferry.logical import precheck
    from include.pgferry.checks.findings import PrecheckFailed
    with pytest.raises(PrecheckFailed) as info:
        precheck.precheck({"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target"})
    assert "127.0.0.1:1" in str(info.value) and PASSWORD not in str(info.value)
