"""Post-data objects in pg_dump's dependency order (issue 16): a materialized view pg_dump places after
the data, because its query is valid only with a primary key (GROUP BY the key, other columns of the
table in the select list), with a unique index on it, next to tables with indexes, a trigger and a
foreign key: the real DAG with two parallel sessions ends as pg_dump | pg_restore of the same source
into the same target server does."""
import subprocess

import pytest

from include.pgferry.logical import common, plan_lanes, structure, triggers_and_foreign_keys
from include.pgferry.model import INDEX, OTHER, DdlStatement, QualifiedName
from include.pgferry.pg.ddl import DdlError, execute_parallel
from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.support import regression_db
from tests.support.compare import compare_databases
from tests.support.migration import data_rows, schema_lines, unique_db
from tests.support.regression_db import pg_bindir

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

SOURCE = """
CREATE SCHEMA shop;
CREATE TABLE shop.regions (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE shop.customers (id int PRIMARY KEY, region_id int NOT NULL REFERENCES shop.regions(id),
                             name text NOT NULL, touched int NOT NULL DEFAULT 0);
CREATE INDEX customers_region ON shop.customers (region_id);
CREATE INDEX customers_name ON shop.customers (lower(name));
CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(10, 2) NOT NULL);
ALTER TABLE shop.orders ADD CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES shop.customers(id);
CREATE INDEX orders_customer_amount ON shop.orders (customer_id, amount);
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END $$;
CREATE TRIGGER customers_touch BEFORE INSERT OR UPDATE ON shop.customers FOR EACH ROW EXECUTE FUNCTION shop.touch();
INSERT INTO shop.regions SELECT g, 'region ' || g FROM generate_series(1, 20) g;
INSERT INTO shop.customers SELECT g, g % 20 + 1, 'Customer ' || g FROM generate_series(1, 2000) g;
INSERT INTO shop.orders SELECT g, g % 2000 + 1, (g % 997) / 10.0 FROM generate_series(1, 20000) g;
-- valid only thanks to regions' primary key (r.name is not grouped): pg_dump places it after the key
CREATE MATERIALIZED VIEW shop.region_sales AS
  SELECT r.id, r.name, count(*) AS orders, sum(o.amount) AS amount
  FROM shop.regions r JOIN shop.customers c ON c.region_id = r.id JOIN shop.orders o ON o.customer_id = c.id
  GROUP BY r.id;
CREATE UNIQUE INDEX region_sales_id ON shop.region_sales (id);
CREATE INDEX region_sales_amount ON shop.region_sales (amount);
COMMENT ON MATERIALIZED VIEW shop.region_sales IS 'orders per region';
-- and one built on it: after it, whatever the parallelism
CREATE MATERIALIZED VIEW shop.top_regions AS SELECT id, name FROM shop.region_sales WHERE orders > 900;
CREATE UNIQUE INDEX top_regions_id ON shop.top_regions (id);
-- an ordinary materialized view: created with the structure, refreshed in finalize, as before
CREATE MATERIALIZED VIEW shop.big_orders AS SELECT id, amount FROM shop.orders WHERE amount > 90;
CREATE INDEX big_orders_amount ON shop.big_orders (amount);
ANALYZE;
"""


@pytest.fixture(scope="module")
def post_data_db(pg_source, tmp_path_factory):
    pg_source.recreate_db("post_data_order")
    pg_source.execute(SOURCE, dbname="post_data_order")
    # what the test is about: pg_dump puts these two views in post-data (not only their indexes)
    dump = tmp_path_factory.mktemp("post_data_order") / "schema.dump"
    subprocess.run([str(pg_bindir() / "pg_dump"), "-Fc", "--schema-only", f"--file={dump}", "-d",
                    pg_source.dsn("post_data_order")], check=True, capture_output=True, timeout=120)
    toc = subprocess.run([str(pg_bindir() / "pg_restore"), "--list", "--section=post-data", str(dump)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert "MATERIALIZED VIEW shop region_sales" in toc and "MATERIALIZED VIEW shop top_regions" in toc
    assert "MATERIALIZED VIEW shop big_orders" not in toc
    return "post_data_order"


def test_a_materialized_view_placed_after_the_keys_migrates_exactly(airflow_db, pg_source, pg_target, post_data_db,
                                                                      target_db, connections):
    conf = connections(post_data_db)
    dr, states = run_dag(load_dag("postgres_logical_migration"), {**conf, "parallelism": 2})
    assert dr.state == "success", states
    assert all(s == "success" for s in states.values()), states

    baseline = unique_db("post_data_baseline")
    try:
        regression_db.dump_and_restore(pg_source, post_data_db, pg_target, baseline)
        assert schema_lines(pg_target, target_db) == schema_lines(pg_target, baseline)
        assert data_rows(pg_target, target_db) == data_rows(pg_target, baseline)
        versus = compare_databases(pg_target.dsn(baseline), pg_target.dsn(target_db), pg_bindir())
        assert [str(d) for d in versus.differences] == []
        # the views are populated: their rows as the source's (data_rows does not dump matview rows)
        for view in ("region_sales", "top_regions", "big_orders"):
            q = f"SELECT * FROM shop.{view} ORDER BY 1"
            rows = pg_target.query(q, target_db)
            assert rows and rows == pg_source.query(q, post_data_db), view
        # the trigger came after the load: it did not touch the copied rows
        assert pg_target.query("SELECT max(touched) FROM shop.customers", target_db) == \
            pg_source.query("SELECT max(touched) FROM shop.customers", post_data_db)

        # the matview's index was not handed to a lane: a lane runs before the view exists
        lanes = xcom_value(dr, "plan_lanes")
        in_lanes = {b["name"] for lane in lanes for u in lane for b in u["index_builds"]}
        assert {"customers_region", "customers_name", "orders_customer_amount"} <= in_lanes
        assert not in_lanes & {"region_sales_id", "region_sales_amount", "top_regions_id"}

        # every step again, as a retry would: the structure finds itself committed (the views created
        # later are not missing from it), the keys step leaves all it finds as it is; still exact
        state = xcom_value(dr, "precheck")
        params = {**conf, "parallelism": 2}
        assert structure.structure(params, state)["skipped"] is True
        planned = plan_lanes.plan_lanes(params, state)
        triggers_and_foreign_keys.triggers_and_foreign_keys(params, state, planned["post_data"])
        assert schema_lines(pg_target, target_db) == schema_lines(pg_target, baseline)
    finally:
        pg_target.execute(f'DROP DATABASE IF EXISTS "{baseline}" WITH (FORCE)')


def test_a_failed_statement_keeps_what_depends_on_it_from_running_and_is_named(pg_target, target_db, connections):
    pg_target.execute("CREATE TABLE t (id int PRIMARY KEY, v int)", dbname=target_db)
    _, target = common.endpoints(connections("postgres"))
    statements = [
        # pg_dump's entries: the view (216) fails, so its index (3217) waits in vain; t's index (3216) runs
        DdlStatement(OTHER, None, None, "CREATE MATERIALIZED VIEW public.v AS SELECT id FROM public.missing "
                                        "WITH NO DATA", dump_id=216, depends_on=(214,)),
        DdlStatement(INDEX, QualifiedName("public", "v"), "v_id", "CREATE UNIQUE INDEX v_id ON public.v (id)",
                     dump_id=3217, depends_on=(216,)),
        DdlStatement(INDEX, QualifiedName("public", "t"), "t_v", "CREATE INDEX t_v ON public.t (v)",
                     dump_id=3216, depends_on=(214,)),
    ]
    with pytest.raises(DdlError) as failure:
        execute_parallel(target, statements, 2, "indexes and constraints")
    message = str(failure.value)
    assert "1 statement(s) failed, 1 not run" in message
    assert 'relation "public.missing" does not exist' in message
    not_run = [line for line in message.splitlines() if line.startswith("not run")]
    assert len(not_run) == 1 and "CREATE UNIQUE INDEX v_id" in not_run[0] and "public.missing" in not_run[0]
    assert pg_target.query("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 't'::regclass "
                           "ORDER BY 1", target_db) == [("t_pkey",), ("t_v",)]
