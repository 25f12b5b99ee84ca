"""Choosing schemas, tables and columns, and renaming schemas, tables and columns on the way."""
import pytest

from tests.integration.conftest import SQL
from localstack.dagrun import load_dag, run_dag, xcom_value

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]


@pytest.fixture(scope="module")
def shop_db(pg_source):
    pg_source.recreate_db("subset")
    pg_source.run_sql_file(SQL / "subset.sql", "subset")
    return "subset"


def relations(cluster, db):
    return {r[0] for r in cluster.query(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('sales', 'shop', 'crm') AND c.relkind IN ('r', 'v', 'S')", db)}


def columns(cluster, db, schema, table):
    return [r[0] for r in cluster.query(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum", db, (f'"{schema}"."{table}"',))]


def test_subset_with_schema_table_and_column_renames(airflow_db, pg_source, pg_target, shop_db, target_db,
                                                      connections):
    conf = {**connections(shop_db),
            "objects": ["sales.orders", "sales.order_lines(id, order_id, qty)", "sales.big_orders", "crm"],
            "rename": {"sales": "shop", "sales.orders": "purchases", "sales.order_lines.qty": "quantity",
                       "crm.contacts.email": "mail"}}
    dr, states = run_dag(load_dag("postgres_logical_migration"), conf)
    assert dr.state == "success", states

    assert relations(pg_target, target_db) == {
        "shop.purchases", "shop.orders_id_seq", "shop.order_lines", "shop.big_orders",
        "crm.contacts", "crm.contact_emails"}
    assert columns(pg_target, target_db, "shop", "order_lines") == ["id", "order_id", "quantity"]
    assert columns(pg_target, target_db, "crm", "contacts") == ["id", "mail", "note"]

    # data: the chosen columns, row for row, under the new names
    assert pg_target.query("SELECT id, order_id, quantity FROM shop.order_lines ORDER BY id", target_db) == \
        pg_source.query("SELECT id, order_id, qty FROM sales.order_lines ORDER BY id", shop_db)
    assert pg_target.query("SELECT id, mail::text, note FROM crm.contacts ORDER BY id", target_db) == \
        pg_source.query("SELECT id, email::text, note FROM crm.contacts ORDER BY id", shop_db)
    assert pg_target.query("SELECT id, placed, total, touched FROM shop.purchases ORDER BY id", target_db) == \
        pg_source.query("SELECT id, placed, total, touched FROM sales.orders ORDER BY id", shop_db)

    # dependent objects follow the renames: view text, foreign key, check, partial index, trigger, sequence
    view = pg_target.query("SELECT pg_get_viewdef('shop.big_orders'::regclass)", target_db)[0][0]
    assert "shop.purchases" in view
    assert pg_target.query("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'", target_db) == \
        [("FOREIGN KEY (order_id) REFERENCES shop.purchases(id)",)]
    assert pg_target.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated",
                           target_db) == [(0,)]
    checks = [r[0] for r in pg_target.query("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' AND conrelid <> 0",
                                            target_db)]
    assert checks == ["CHECK ((quantity > 0))"]
    indexes = {r[0]: r[1] for r in pg_target.query(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'shop'", target_db)}
    assert "WHERE (quantity > 1)" in indexes["order_lines_big_qty_idx"]
    assert "order_lines_secret_idx" not in indexes        # it needs the left-out column
    assert pg_target.query("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal", target_db) == [("orders_touch",)]
    assert pg_target.query("SELECT last_value FROM shop.orders_id_seq", target_db) == [(2000,)]
    # the citext extension the chosen tables need was created
    assert pg_target.query("SELECT count(*) FROM pg_extension WHERE extname = 'citext'", target_db) == [(1,)]

    report = xcom_value(dr, "validate")
    assert report["ok"] and {t["target"] for t in report["tables"]} == {
        "shop.purchases", "shop.order_lines", "crm.contacts"}
    assert any("order_lines_secret_idx" in w["message"] for w in xcom_value(dr, "precheck")["warnings"])
    # the trigger existed only after the load: `touched` kept the source's values (0), not 1
    assert pg_target.query("SELECT max(touched) FROM shop.purchases", target_db) == [(0,)]


def test_structure_first_then_data_alone(airflow_db, pg_source, pg_target, shop_db, target_db, connections):
    """migration_types: a structure-only run, then a data-only run into the tables it created."""
    conf = {**connections(shop_db), "objects": ["crm", "sales.orders", "sales.order_lines"]}
    dag = load_dag("postgres_logical_migration")
    dr, states = run_dag(dag, {**conf, "migration_types": ["structure"]})
    assert dr.state == "success", states
    assert pg_target.query("SELECT count(*) FROM sales.order_lines", target_db) == [(0,)]
    assert pg_target.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f'", target_db) == [(1,)]

    dr, states = run_dag(dag, {**conf, "migration_types": ["data"]})
    assert dr.state == "success", states
    assert pg_target.query("SELECT count(*), sum(qty) FROM sales.order_lines", target_db) == \
        pg_source.query("SELECT count(*), sum(qty) FROM sales.order_lines", shop_db)
    assert xcom_value(dr, "validate")["ok"] is True
