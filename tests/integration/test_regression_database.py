"""PostgreSQL's regression database as a fixture, and what pg_dump | pg_restore makes of it (the baseline
pgferry has to equal)."""
import pytest

from tests.support import regression_db
from tests.support.compare import compare_databases
from tests.support.migration import unique_db
from tests.support.regression_db import pg_bindir  # the one import of the cluster helpers is there

pytestmark = [pytest.mark.integration, pytest.mark.regression]


@pytest.fixture(scope="session")
def regression_fixture():
    """Built from Debian's sources on the first run (about half a minute), then taken from the cache."""
    return regression_db.ensure_fixture()


@pytest.fixture(scope="session")
def regression_cluster(regression_fixture, cluster_root):
    """The cluster pg_regress left, unpacked and started on a free port: database `regression`."""
    cluster = regression_db.start_cluster(regression_fixture, cluster_root, "regression_source")
    yield cluster
    cluster.destroy()


def test_fixture_is_the_regression_database_as_pg_regress_left_it(regression_fixture, regression_cluster):
    assert regression_fixture.source_version.startswith(f"{regression_db.PG_MAJOR}.")
    assert regression_fixture.tests_summary.endswith(("tests failed.", "tests passed."))
    q = lambda sql: regression_cluster.query(sql, "regression")[0][0]  # noqa: E731
    assert q("SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace") > 400
    # what a dump and restore would have lost: dropped columns, a stale materialized view
    assert q("SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
             "WHERE a.attisdropped AND c.relnamespace = 'public'::regnamespace") > 0
    assert q("SELECT grandtot FROM mvtest_bb") != q("SELECT sum(grandtot) FROM mvtest_tvvmv")
    # the C functions it was built with are loadable (widget's I/O functions are in regress.so)
    assert q("SELECT '(1,2,3)'::widget::text") == "(1,2,3)"


def test_pg_dump_restore_baseline_differs_only_where_postgresql_cannot_reproduce(
        regression_fixture, regression_cluster, pg_target):
    target_db = unique_db("regress_baseline")
    regression_db.create_roles(regression_fixture, pg_target)
    try:
        regression_db.dump_and_restore(regression_cluster, "regression", pg_target, target_db)
        result = compare_databases(regression_cluster.dsn("regression"), pg_target.dsn(target_db), pg_bindir())
    finally:
        pg_target.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
    assert result.tables > 500 and result.rows > 100_000 and result.sequences > 20 and result.schema_objects > 1000
    unexplained = [str(d) for d in result.differences
                   if (d.kind, d.name) not in regression_db.KNOWN_DIFFERENCES]
    assert unexplained == [], "\n".join(unexplained)
    # the harness does see what PostgreSQL cannot reproduce: the inheritance children's column order
    assert {("table", "public.b_star"), ("table", "public.f_star")} <= {(d.kind, d.name) for d in result.differences}
