"""Renames and column choice are rewritten through PostgreSQL's own grammar (pglast), never by text search."""
from include.pgferry.pg.ddl import RenameContext, describe_statement, rewrite, split_statements


def ctx(**kw):
    return RenameContext(**kw)


def test_untouched_statements_keep_pg_dump_text_and_meta_commands_are_dropped():
    sql = "\\restrict abc\nCREATE TABLE app.t (id integer);\n\\unrestrict abc\n"
    out = rewrite(sql, ctx(schemas={"other": "x"}), rename_columns=False)
    assert out.statements == ["CREATE TABLE app.t (id integer)"]


def test_schema_and_table_renames_reach_every_reference():
    sql = """
    CREATE SCHEMA sales;
    CREATE TYPE sales.mood AS ENUM ('a');
    CREATE TABLE sales.orders (id bigint DEFAULT nextval('sales.orders_id_seq'::regclass), m sales.mood);
    ALTER SEQUENCE sales.orders_id_seq OWNED BY sales.orders.id;
    CREATE VIEW sales.v AS SELECT orders.id FROM sales.orders WHERE (orders.id > 0);
    COMMENT ON TABLE sales.orders IS 'x';
    ALTER SCHEMA sales OWNER TO bob;
    GRANT USAGE ON SCHEMA sales TO PUBLIC;
    """
    out = rewrite(sql, ctx(schemas={"sales": "shop"}, tables={("sales", "orders"): "purchases"}),
                  rename_columns=False).statements
    joined = "\n".join(out)
    assert "sales" not in joined.replace("'x'", "")
    assert out[0] == "CREATE SCHEMA shop"
    assert "CREATE TYPE shop.mood" in out[1]
    assert "CREATE TABLE shop.purchases" in out[2] and "'\"shop\".\"orders_id_seq\"'" in out[2] \
        and "shop.mood" in out[2]
    assert "OWNED BY shop.purchases.id" in out[3]
    # the view keeps its column references valid through an alias named like the old table
    assert "FROM shop.purchases AS orders" in out[4] and "orders.id" in out[4]
    assert out[5].startswith("COMMENT ON TABLE shop.purchases")
    assert out[6] == "ALTER SCHEMA shop OWNER TO bob"
    assert out[7] == "GRANT USAGE ON SCHEMA shop TO PUBLIC"


def test_existing_target_schemas_are_used_not_created_or_reowned():
    sql = "CREATE SCHEMA public; ALTER SCHEMA public OWNER TO x; COMMENT ON SCHEMA public IS 'p'; CREATE TABLE public.t (a int);"
    out = rewrite(sql, ctx(existing_target_schemas={"public"}), rename_columns=False).statements
    assert out == ["CREATE TABLE public.t (a int)"]


def test_post_data_column_renames_follow_the_table():
    sql = """
    CREATE INDEX lines_qty ON sales.lines USING btree (qty) WHERE (qty > 1);
    ALTER TABLE ONLY sales.lines ADD CONSTRAINT lines_fk FOREIGN KEY (order_id) REFERENCES sales.orders(id);
    CREATE TRIGGER t BEFORE UPDATE OF qty ON sales.lines FOR EACH ROW WHEN ((old.qty IS DISTINCT FROM new.qty)) EXECUTE FUNCTION sales.f();
    """
    c = ctx(schemas={"sales": "shop"}, columns={("sales", "lines"): {"qty": "quantity"},
                                                ("sales", "orders"): {"id": "order_no"}})
    out = rewrite(sql, c, rename_columns=True).statements
    assert out[0] == "CREATE INDEX lines_qty ON shop.lines (quantity) WHERE quantity > 1"
    assert "FOREIGN KEY (order_id) REFERENCES shop.orders (order_no)" in out[1]
    assert "UPDATE OF quantity ON shop.lines" in out[2] and "old.quantity IS DISTINCT FROM new.quantity" in out[2]


def test_left_out_columns_vanish_from_the_table_and_what_needs_them_is_skipped_with_a_warning():
    pre = """
    CREATE TABLE app.t (id integer NOT NULL, secret text, note text, CONSTRAINT c CHECK ((secret <> '')));
    ALTER TABLE ONLY app.t ALTER COLUMN secret SET DEFAULT 'x';
    COMMENT ON COLUMN app.t.secret IS 'hidden';
    """
    c = ctx(dropped={("app", "t"): {"secret"}})
    out = rewrite(pre, c, rename_columns=False)
    assert out.statements == ["CREATE TABLE app.t (id integer NOT NULL, note text)"]
    assert any("constraint c" in w for w in out.warnings)
    post = "CREATE INDEX t_secret ON app.t USING btree (secret); CREATE INDEX t_note ON app.t USING btree (note);"
    out = rewrite(post, c, rename_columns=True)
    assert out.statements == ["CREATE INDEX t_note ON app.t USING btree (note)"]
    assert any("app.t.secret" in w for w in out.warnings)


def test_statement_identity_and_not_valid_foreign_keys():
    fk = "ALTER TABLE ONLY a.t ADD CONSTRAINT t_fk FOREIGN KEY (x) REFERENCES a.u(id)"
    assert describe_statement(fk).identity == ("foreign key", "a", "t", "t_fk")
    assert describe_statement(fk).not_valid_sql.endswith("NOT VALID")
    assert describe_statement(fk + " NOT VALID").not_valid_sql is None
    assert describe_statement("CREATE UNIQUE INDEX i ON a.t USING btree (x)").identity == ("index", "a", "t", "i")
    assert describe_statement("COMMENT ON TABLE a.t IS 'x'").identity is None


def test_split_statements_keeps_dollar_quoted_bodies_whole():
    sql = "CREATE FUNCTION a.f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\nCREATE TABLE a.t (x int);"
    parts = [t for t, _ in split_statements(sql)]
    assert len(parts) == 2 and "SELECT 1;" in parts[0]


def test_a_newer_pg_dumps_settings_the_target_lacks_are_left_out_and_known_ones_kept():
    sql = ("SET statement_timeout = 0;\nSET transaction_timeout = 0;\nSET plan.custom = 1;\n"
           "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE app.t (id integer);\n")
    known = frozenset({"statement_timeout", "search_path"})    # a PostgreSQL 15 target: no transaction_timeout
    for c in (ctx(), ctx(schemas={"app": "shop"})):
        out = rewrite(sql, c, rename_columns=False, known_settings=known).statements
        assert out[:3] == ["SET statement_timeout = 0", "SET plan.custom = 1",
                           "SELECT pg_catalog.set_config('search_path', '', false)"]
        assert len(out) == 4
    # without the target's settings nothing is left out (the same major on both sides)
    assert len(rewrite(sql, ctx(), rename_columns=False).statements) == 5


def test_column_options_no_postgresql_takes_are_left_out_and_n_distinct_kept():
    sql = ("CREATE TABLE app.t (id integer, n integer);\n"
           "ALTER TABLE ONLY app.t ALTER COLUMN id SET (pg_attver=31778960);\n"
           "ALTER TABLE ONLY app.t ALTER COLUMN n SET (pg_attver=31778960, n_distinct=-0.5);\n")
    assert rewrite(sql, ctx(), rename_columns=False).statements == [
        "CREATE TABLE app.t (id integer, n integer)", "ALTER TABLE ONLY app.t ALTER COLUMN n SET (n_distinct = -0.5)"]
    assert rewrite(sql, ctx(tables={("app", "t"): "u"}), rename_columns=False).statements == [
        "CREATE TABLE app.u (id integer, n integer)", "ALTER TABLE ONLY app.u ALTER COLUMN n SET (n_distinct = -0.5)"]
