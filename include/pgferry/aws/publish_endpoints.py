"""Task `publish_endpoints` of the snapshot DAG: what RDS says the new cluster is, read back with describe
calls (never the request), in the log, XCom, the run report and the cluster Asset's event."""
from __future__ import annotations

import logging
from typing import Any

from include.pgferry.aws.endpoints import asset_extra, cluster_endpoints, next_step, observed_settings
from include.pgferry.aws.hooks import rds_hook
from include.pgferry.report import snapshot as snapshot_report

log = logging.getLogger(__name__)


def publish_endpoints(plan: dict[str, Any], asset_event: Any) -> dict[str, Any]:
    """Writer/reader endpoints, port, instances and settings, and the connection to create for the logical
    migration DAG; `asset_event` (the task's outlet event for the cluster Asset) gets them as its extra."""
    region = plan["target_region"]
    conn = rds_hook(plan["aws_conn_id"], region).conn
    endpoints = cluster_endpoints(conn, plan["db_cluster_identifier"], region)
    settings = observed_settings(conn, plan["db_cluster_identifier"])
    published = {**endpoints, "settings": settings, "next_step": next_step(endpoints)}
    report = snapshot_report.snapshot_report({**plan, **settings}, published)
    text = snapshot_report.render_snapshot_report(report)
    for line in text.splitlines():
        log.info("%s", line)
    snapshot_report.publish(report, text)
    asset_event.extra = asset_extra(published)
    return published
