"""The snapshot migration's report, for the snapshot DAG's last task: built (model), rendered for the
log (text), published to XCom and the run's "Run report" tab (publish)."""
from __future__ import annotations

from include.pgferry.report.model import snapshot_report
from include.pgferry.report.publish import publish
from include.pgferry.report.text import render_snapshot_report

__all__ = ["publish", "render_snapshot_report", "snapshot_report"]
