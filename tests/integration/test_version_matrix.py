"""Across PostgreSQL majors: 13 -> 15, 13 -> 17 and 15 -> 17 through the real DAG, each exact against
`pg_dump | pg_restore` of the same source into the same target server; a source newer than its target,
and client tools older than the target, refused by precheck before anything is written.

The baseline is dumped by the oldest client tools here that dump the source (Debian's 15): the way a
person upgrades with the tools at hand, and independent of the newer pair pgferry picks (pg_dump 18 for a
17 target). Debian's 15 server stamps every column with a private option (`pg_attver`) that only its own
pg_dump hides: pg_dump 18 writes it, a 17 target refuses it, and pgferry leaves it out (pg/ddl.py).

13 and 17 are the pinned servers of `make pg-majors` (localstack/pg_majors.py), 15 is Debian's (the
suite's pg_source and pg_target); pg_dump/pg_restore 18 come from there too, since Debian has only 15.
One source database per major (tests/support/sql/versions.sql), one run per pair.
"""
import logging
import subprocess

import psycopg
import pytest

from include.pgferry.pg import client_tools
from include.pgferry.pg.catalog import setting_names
from include.pgferry.pg.ddl import DdlError, RenameContext, execute_in_transaction, rewrite
from localstack import airflow_env, pg_majors
from localstack.dagrun import load_dag, run_dag, xcom_value
from localstack.pgcluster import PgCluster
from tests.integration.conftest import SQL
from tests.support.compare import compare_databases
from tests.support.migration import unique_db
from tests.support.regression_db import dump_and_restore

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

DB = "versions"


def test_the_cached_majors_are_the_pinned_packages():
    for major, pin in pg_majors.PINS.items():
        program = "postgres" if pin.has_server else "pg_dump"
        assert pg_majors.bindir(major) is not None, f"PostgreSQL {major} is not installed: run make pg-majors"
        out = subprocess.run([str(pg_majors.bindir(major) / program), "--version"], capture_output=True, text=True,
                             check=True).stdout
        assert out.split()[-1] == ".".join(pin.version.split(".")[:2]), (pin.label, out)   # 13.23.0-beta.16: 13.23
        assert (pg_majors.CACHE / str(major) / ".installed").read_text() == f"{pin.label} sha256 {pin.sha256}\n"


def _with_fixture(cluster: PgCluster) -> PgCluster:
    cluster.recreate_db(DB)
    cluster.run_sql_file(SQL / "versions.sql", DB)
    return cluster


@pytest.fixture(scope="module")
def servers(cluster_root, pg_source, pg_target):
    """{major: the cluster holding the `versions` database, "target <major>": a cluster to migrate into}; 17
    is both (its targets are new databases beside `versions`)."""
    pg13 = _with_fixture(PgCluster(cluster_root, "v13", major=13).start())
    pg17 = _with_fixture(PgCluster(cluster_root, "v17", major=17).start())
    yield {13: pg13, 15: _with_fixture(pg_source), 17: pg17, "target 15": pg_target, "target 17": pg17}
    pg_source.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    for c in (pg13, pg17):
        c.destroy()


def _run(source: PgCluster, target: PgCluster, target_db: str):
    airflow_env.postgres_connection("pgferry_source", source.port, DB)
    airflow_env.postgres_connection("pgferry_target", target.port, target_db)
    return run_dag(load_dag("postgres_logical_migration"),
                   {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target", "parallelism": 2})


def _version(cluster: PgCluster) -> int:
    with cluster.connect() as conn:
        return conn.info.server_version


@pytest.mark.parametrize("source_major,target_major,tools_major", [(13, 15, 15), (13, 17, 18), (15, 17, 18)],
                         ids=["13-to-15", "13-to-17", "15-to-17"])
def test_a_migration_across_majors_equals_pg_dump_restore(
        airflow_db, servers, source_major, target_major, tools_major):
    source, target = servers[source_major], servers[f"target {target_major}"]
    assert _version(source) // 10000 == source_major and _version(target) // 10000 == target_major
    tools = client_tools.for_servers(_version(source), _version(target))
    assert tools.major == tools_major * 100   # the lowest installed major that serves both servers
    baseline_tools = client_tools.best_for(client_tools.installed(), _version(source))
    baseline_db, ferried_db = unique_db("v_baseline"), unique_db("v_pgferry")
    try:
        dump_and_restore(source, DB, target, baseline_db, baseline_tools.bindir)
        target.recreate_db(ferried_db)
        dr, states = _run(source, target, ferried_db)
        assert dr.state == "success", states

        result = compare_databases(target.dsn(baseline_db), target.dsn(ferried_db), tools.bindir)
        assert [str(d) for d in result.differences] == []
        assert result.tables == 5 and result.rows > 3300 and result.sequences == 4 and result.large_objects == 1
        assert result.schema_objects > 30
        # the trigger came after the load: no audit row for the loaded orders, as on the source
        assert target.query("SELECT count(*) FROM shop.audit", ferried_db) == \
            source.query("SELECT count(*) FROM shop.audit", DB) == [(2,)]

        report = xcom_value(dr, "validate")
        assert report["ok"] is True and all(t["ok"] for t in report["tables"])
        assert report["dump_entries"]["differing"] == [] and report["dump_entries"]["entries"] > 30
        state = xcom_value(dr, "precheck")
        assert state["server_versions"] == {"source": _version(source), "target": _version(target)}
    finally:
        for db in (baseline_db, ferried_db):
            target.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _refused(source: PgCluster, target: PgCluster, caplog, capfd) -> str:
    """Run the DAG into an empty database and return what it logged: precheck fails, nothing else runs,
    nothing is written."""
    target_db = unique_db("v_refused")
    target.recreate_db(target_db)
    try:
        with caplog.at_level(logging.INFO, logger="pgferry"):
            dr, states = _run(source, target, target_db)
        assert dr.state == "failed" and states["precheck"] == "failed", states
        assert all(s in ("upstream_failed", "skipped") for k, s in states.items() if k != "precheck"), states
        assert target.query(_USER_OBJECTS, target_db) == [(0,)]
    finally:
        target.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
    out, err = capfd.readouterr()
    return out + err + caplog.text   # task logs reach stdout or pytest's log capture


_USER_OBJECTS = ("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'")


def _label(version_num: int) -> str:
    return f"{version_num // 10000}.{version_num % 10000}"


def test_a_source_newer_than_its_target_is_refused_in_precheck(airflow_db, servers, caplog, capfd):
    source, target = servers[17], servers["target 15"]
    said = _refused(source, target, caplog, capfd)
    assert (f"target PostgreSQL {_label(_version(target))} is older than the source {_label(_version(source))}: "
            f"the target must be the same major version or newer") in said


def test_client_tools_older_than_the_target_are_refused_in_precheck_naming_what_to_install(
        airflow_db, servers, monkeypatch, tmp_path, caplog, capfd):
    monkeypatch.setenv("PG_BINDIR", "/usr/lib/postgresql/15/bin:/opt/pg17/bin")   # the second: a typo, say
    monkeypatch.setenv(client_tools.CACHE_ENV, str(tmp_path))   # the project's cached pg_dump 18 out of sight
    source, target = servers[15], servers["target 17"]
    said = _refused(source, target, caplog, capfd)
    assert (f"no pg_dump/pg_restore on this worker can dump both the source (PostgreSQL "
            f"{_label(_version(source))}) and the target (PostgreSQL {_label(_version(target))}): pg_dump must be "
            f"at least as new as the newer server, 17; the newest found is pg_dump 15 "
            f"(/usr/lib/postgresql/15/bin)") in said
    assert "install postgresql-client-17 (or newer) on every worker" in said
    assert "set PG_BINDIR to a directory holding pg_dump and pg_restore 17 or newer" in said
    assert "PG_BINDIR names /opt/pg17/bin, which holds no executable pg_dump and pg_restore: it is not used" in said


def test_pg_dump_18s_structure_runs_on_a_15_target_without_the_settings_15_lacks(servers):
    """The pair a 15 target gets here is 15, so the runs above never send pg_dump 18's SQL to 15: this does,
    through the same rewrite the structure step uses."""
    tools = next(t for t in client_tools.installed() if t.major == 1800)
    source, target = servers[13], servers["target 15"]
    archive = subprocess.run([tools.path("pg_dump"), "--format=custom", "--schema-only", "-d", source.dsn(DB)],
                             capture_output=True, check=True, timeout=120).stdout
    sql = subprocess.run([tools.path("pg_restore"), "--section=pre-data", "--file=-"], input=archive,
                         capture_output=True, check=True, timeout=120).stdout.decode()
    assert "SET transaction_timeout = 0;" in sql
    target_db = unique_db("v_pg_dump_18")
    target.recreate_db(target_db)
    try:
        with psycopg.connect(target.dsn(target_db)) as conn:
            with pytest.raises(DdlError, match='unrecognized configuration parameter "transaction_timeout"'):
                execute_in_transaction(conn, rewrite(sql, RenameContext(), False).statements, "structure")
            statements = rewrite(sql, RenameContext(), False, known_settings=setting_names(conn)).statements
            assert not any("transaction_timeout" in s for s in statements)
            execute_in_transaction(conn, statements, "structure")
        # 6 tables (3 of them partitions), a view, 4 sequences
        assert target.query("SELECT count(*) FROM pg_class WHERE relnamespace = 'shop'::regnamespace "
                            "AND relkind IN ('r', 'p', 'v', 'S')", target_db) == [(11,)]
    finally:
        target.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
