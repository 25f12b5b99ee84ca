"""The online precheck on a source dressed as Amazon RDS/Aurora: no RDS is reachable from here, so a real
PostgreSQL server is given what the precheck tells RDS by: the `rds.logical_replication` setting (a custom
setting, as RDS's own parameter appears to a session) and the `rds_replication` role. The findings and
fixes must then be RDS's (a parameter group and a reboot; GRANT rds_replication), not self-managed ones."""
from __future__ import annotations

import pytest

from include.pgferry.checks.findings import ERROR
from include.pgferry.model import Plan
from include.pgferry.online import precheck as pc
from tests.online.conftest import connect
from tests.online.test_apply import _relation

pytestmark = pytest.mark.integration

DB = "pre_online_rds"


def by_check(found, check):
    return [f for f in found if f.check == check]


def test_rds_logical_replication_off_is_refused_with_the_parameter_group_fix(pg_source):
    pg_source.recreate_db(DB)          # wal_level = replica, as an RDS instance with the parameter off
    with connect(pg_source, DB) as src:
        src.execute("CREATE TABLE t (id int PRIMARY KEY)")
        src.execute("SET rds.logical_replication = 'off'")
        found = pc.online_findings(pc.Context(src, Plan(relations=(_relation(src, "public", "t"),))))
    assert [(f.level, f.message, f.fix) for f in by_check(found, "logical decoding")] == [
        (ERROR, "rds.logical_replication is off (wal_level replica): the source does not write the WAL logical "
                "decoding reads",
         "set rds.logical_replication = 1 in the instance's DB parameter group (Aurora: the DB cluster parameter "
         "group), then reboot the instance (Aurora: the writer)")]


def test_an_rds_user_without_rds_replication_is_told_to_be_granted_it(logical_source):
    logical_source.recreate_db(DB)
    with connect(logical_source, DB) as admin:
        admin.execute("CREATE TABLE t (id int PRIMARY KEY)")
        admin.execute("DROP ROLE IF EXISTS rds_app")
        admin.execute("DROP ROLE IF EXISTS rds_replication")
        admin.execute("CREATE ROLE rds_replication NOLOGIN")
        admin.execute("CREATE ROLE rds_app LOGIN")
        admin.execute(f"GRANT CREATE ON DATABASE {DB} TO rds_app")
        admin.execute("ALTER TABLE t OWNER TO rds_app")
        try:
            with connect(logical_source, DB, user="rds_app") as src:
                plan = Plan(relations=(_relation(src, "public", "t"),))
                found = by_check(pc.online_findings(pc.Context(src, plan)), "replication privilege")
                assert [(f.level, f.fix) for f in found] == [(ERROR, "GRANT rds_replication TO rds_app")]
                assert "lacks the REPLICATION attribute" in found[0].message
            admin.execute("GRANT rds_replication TO rds_app")     # what RDS's rds_superuser does
            with connect(logical_source, DB, user="rds_app") as src:
                assert by_check(pc.online_findings(pc.Context(src, plan)), "replication privilege") == []
        finally:
            admin.execute("ALTER TABLE t OWNER TO postgres")
            admin.execute(f"REVOKE CREATE ON DATABASE {DB} FROM rds_app")
            admin.execute("DROP ROLE rds_app")
            admin.execute("DROP ROLE rds_replication")
