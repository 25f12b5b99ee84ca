"""Task `precheck` of the snapshot DAG, at its Airflow edge: the RDS and KMS clients of the run's connection,
the checks (include/pgferry/checks/aws.py, on the framework both DAGs share), and the plan as XCom.

A precheck failure is bad input, which a retry cannot mend: it fails the task for good.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from include.pgferry.aws.hooks import kms_client, rds_hook
from include.pgferry.checks.aws import plan_snapshot_migration
from include.pgferry.checks.findings import PrecheckFailed

log = logging.getLogger(__name__)


def precheck(params: dict[str, Any], *, run_after: datetime, run_id: str) -> dict[str, Any]:
    """Every rule, before any AWS write: the plan every later task follows, or the full list of problems."""
    params = dict(params)
    conn_id, source_region = params["aws_conn_id"], params["source_region"]
    target_region = params["target_region"] or source_region
    try:
        plan = plan_snapshot_migration(params, run_stamp=run_after.strftime("%Y%m%d%H%M%S"), run_id=run_id,
                                       source_rds=rds_hook(conn_id, source_region).conn,
                                       target_rds=rds_hook(conn_id, target_region).conn,
                                       target_kms=kms_client(conn_id, target_region))
    except PrecheckFailed as failed:
        raise AirflowFailException(str(failed)) from None
    for found in plan.resuming:
        log.info("continuing with %s, left by an earlier run of this migration", found)
    return {**plan.as_dict(), "aws_conn_id": conn_id}
