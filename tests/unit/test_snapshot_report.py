"""The snapshot migration's run report (report/model.snapshot_report): what it says came from where."""
from include.pgferry.report.model import snapshot_report
from include.pgferry.report.text import render_snapshot_report

PLAN = {"source_db_instance_identifier": "shop", "source_region": "us-east-1", "target_region": "us-east-1",
        "db_cluster_identifier": "aurora-shop", "source_snapshot_identifier": "pgferry-shop-1",
        "snapshot_given": False, "copy_needed": False, "target_snapshot_identifier": "pgferry-shop-1"}
PUBLISHED = {"db_cluster_identifier": "aurora-shop", "writer_endpoint": "w.example", "port": 5432}


def test_a_rerun_that_found_its_cluster_does_not_claim_it_took_the_snapshot():
    text = render_snapshot_report(snapshot_report({**PLAN, "snapshot_needed": False}, PUBLISHED))
    assert "snapshot: pgferry-shop-1 (taken by an earlier run; this run found its cluster)" in text
    assert "taken by this run" not in text


def test_a_first_run_took_the_snapshot_and_a_given_one_is_given():
    assert "(taken by this run)" in render_snapshot_report(snapshot_report({**PLAN, "snapshot_needed": True}, PUBLISHED))
    given = snapshot_report({**PLAN, "snapshot_given": True, "snapshot_needed": True}, PUBLISHED)
    assert "(given)" in render_snapshot_report(given)


def test_the_production_settings_rds_reports_are_in_the_report():
    observed = {"deletion_protection": True, "storage_type": "aurora-iopt1", "backup_retention_period": 7,
                "serverless_v2_scaling": {"MinCapacity": 0.5, "MaxCapacity": 4.0}}
    r = snapshot_report({**PLAN, **observed}, PUBLISHED)
    assert r["settings"] == observed
    assert "deletion_protection=True" in render_snapshot_report(r)
