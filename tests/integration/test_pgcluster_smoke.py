import pytest

pytestmark = pytest.mark.integration


def test_clusters_are_separate_real_servers(pg_source, pg_target):
    assert pg_source.port != pg_target.port
    v = pg_source.query("select current_setting('server_version_num')::int")[0][0]
    assert v >= 90200
    pg_source.recreate_db("smoke")
    pg_source.execute("create table t(x int); insert into t values (1),(2)", dbname="smoke")
    assert pg_source.query("select sum(x) from t", dbname="smoke") == [(3,)]
    assert pg_target.query("select count(*) from pg_database where datname='smoke'") == [(0,)]
