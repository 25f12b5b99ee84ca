"""Post-data statements are described once (pg/ddl.describe_statement) and travel typed through XCom."""
import pytest

from include.pgferry.model import (CONSTRAINT, EVENT_TRIGGER, FOREIGN_KEY, INDEX, OTHER, TRIGGER, DdlStatement,
                                   PostData, QualifiedName)
from include.pgferry.pg.ddl import describe_statement

FK = 'ALTER TABLE ONLY "Sales".lines ADD CONSTRAINT lines_fk FOREIGN KEY (order_id, n) REFERENCES "Sales".orders(id, n)'


@pytest.mark.parametrize("text, kind, table, name", [
    ("CREATE UNIQUE INDEX i ON app.t USING btree (x)", INDEX, QualifiedName("app", "t"), "i"),
    ("ALTER TABLE ONLY app.t ADD CONSTRAINT t_pkey PRIMARY KEY (id)", CONSTRAINT, QualifiedName("app", "t"), "t_pkey"),
    ("ALTER TABLE app.t ADD CONSTRAINT c CHECK (x > 0)", CONSTRAINT, QualifiedName("app", "t"), "c"),
    (FK, FOREIGN_KEY, QualifiedName("Sales", "lines"), "lines_fk"),
    ("CREATE TRIGGER tr AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.f()", TRIGGER,
     QualifiedName("app", "t"), "tr"),
    ("CREATE EVENT TRIGGER ev ON ddl_command_start EXECUTE FUNCTION app.f()", EVENT_TRIGGER, None, "ev"),
    ("ALTER INDEX app.p_pkey ATTACH PARTITION app.c_pkey", OTHER, None, None),
    ("COMMENT ON TABLE app.t IS 'x'", OTHER, None, None),
])
def test_what_a_statement_creates_is_read_from_its_parse_tree(text, kind, table, name):
    s = describe_statement(text)
    assert (s.kind, s.table, s.name, s.sql) == (kind, table, name, text)


def test_a_foreign_key_carries_its_columns_its_parent_and_its_not_valid_form():
    s = describe_statement(FK)
    assert s.references == QualifiedName("Sales", "orders")
    assert (s.columns, s.referenced_columns) == (("order_id", "n"), ("id", "n"))
    assert s.not_valid_sql.endswith("NOT VALID") and '"Sales".lines' in s.not_valid_sql
    assert s.identity == (FOREIGN_KEY, "Sales", "lines", "lines_fk")
    assert describe_statement(FK + " NOT VALID").not_valid_sql is None   # NOT VALID on the source: stays so


def test_only_objects_the_catalog_can_find_have_an_identity():
    assert describe_statement("COMMENT ON TABLE app.t IS 'x'").identity is None
    assert describe_statement("CREATE EVENT TRIGGER ev ON ddl_command_start EXECUTE FUNCTION f()").identity is None


@pytest.mark.parametrize("text", [FK, "CREATE UNIQUE INDEX i ON app.t USING btree (x)", "COMMENT ON TABLE app.t IS 'x'"])
def test_the_xcom_form_gives_back_the_same_statement(text):
    s = describe_statement(text)
    assert DdlStatement.from_xcom(s.to_xcom()) == s


def test_post_data_round_trips_by_phase_with_its_warnings():
    post = PostData({"indexes": ((describe_statement("CREATE INDEX i ON app.t USING btree (x)"),), ("w",)),
                     "final": ((), ())})
    back = PostData.from_xcom(post.to_xcom())
    assert back == post
    assert back.warnings("indexes") == ("w",) and back.statements("event_triggers") == ()


def test_the_rewrite_describes_its_statements_from_its_own_parse_trees_after_renames():
    from include.pgferry.pg.ddl import RenameContext, rewrite
    out = rewrite(FK + ";\nCREATE INDEX i ON \"Sales\".orders USING btree (n);",
                  RenameContext(schemas={"Sales": "shop"}, tables={("Sales", "orders"): "purchases"}),
                  rename_columns=True)
    fk, index = out.described()
    assert (fk.table, fk.references) == (QualifiedName("shop", "lines"), QualifiedName("shop", "purchases"))
    assert "shop.purchases" in fk.not_valid_sql and fk.sql == out.statements[0]
    assert (index.kind, index.table) == (INDEX, QualifiedName("shop", "purchases"))
    assert [describe_statement(s) for s in out.statements] == [fk, index]   # the same as parsing the text
