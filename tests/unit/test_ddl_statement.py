"""Post-data statements are described once (pg/ddl.describe_statement) and travel typed through XCom."""
from dataclasses import replace

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
    s = replace(describe_statement(text), dump_id=3217, depends_on=(216, 3213))
    assert DdlStatement.from_xcom(s.to_xcom()) == s


# pg_restore --verbose's script: each entry's SQL headed by its dump id (a function body may hold the same
# text: it is not a heading)
VERBOSE_SCRIPT = """
SET statement_timeout = 0;

--
-- TOC entry 3213 (class 2606 OID 16391)
-- Dependencies: 214
--

ALTER TABLE ONLY public.r
    ADD CONSTRAINT r_pkey PRIMARY KEY (id);

--
-- TOC entry 216 (class 1259 OID 16403)
-- Dependencies: 3213 215 214 214
--

CREATE MATERIALIZED VIEW public.rc AS
 SELECT r.id, count(*) AS n FROM public.r GROUP BY r.id
  WITH NO DATA;


ALTER TABLE public.rc OWNER TO postgres;

--
-- TOC entry 3217 (class 1259 OID 16409)
--

CREATE UNIQUE INDEX rc_id ON public.rc USING btree (id);

COMMENT ON INDEX public.rc_id IS $$
-- TOC entry 1 (class 1 OID 1)
$$;

ALTER INDEX public.rc_id SET (fillfactor = 90);
"""


def test_each_statement_is_told_the_entry_it_comes_from_and_what_that_entry_depends_on():
    from include.pgferry.pg.ddl import RenameContext, TocEntry, rewrite, split_entries
    assert [i for _, _, i in split_entries(VERBOSE_SCRIPT)] == [None, 3213, 216, 216, 3217, 3217, 3217]
    toc = [TocEntry("", 3213, 2606, 16391, "CONSTRAINT", "public r r_pkey postgres", "post-data", (214,)),
           TocEntry("", 216, 1259, 16403, "MATERIALIZED VIEW", "public rc postgres", "post-data", (3213, 215, 214, 214)),
           TocEntry("", 3217, 1259, 16409, "INDEX", "public rc_id postgres", "post-data", (216,))]
    for ctx in (RenameContext(), RenameContext(schemas={"public": "app"})):   # kept as is, or rewritten
        out = rewrite(VERBOSE_SCRIPT, ctx, rename_columns=True).described(toc)
        assert [(s.dump_id, s.depends_on) for s in out] == [
            (None, ()), (3213, (214,)), (216, (3213, 215, 214, 214)), (216, (3213, 215, 214, 214)), (3217, (216,)),
            (3217, (216,)), (3217, (216,))]


def test_a_statement_waits_for_its_entry_s_dependencies_and_its_entry_s_earlier_statements():
    from include.pgferry.pg.ddl import prerequisites

    def stmt(dump_id, depends_on=()):
        return DdlStatement(OTHER, None, None, f"-- {dump_id}", dump_id=dump_id, depends_on=depends_on)
    statements = [stmt(None), stmt(3213, (214,)), stmt(216, (3213, 215)), stmt(216, (3213, 215)), stmt(3217, (216,)),
                  stmt(3218, (9999,))]
    # 214, 215: pre-data, and 9999: built by a lane, all there before this step: nothing to wait for
    assert prerequisites(statements) == [[], [], [1], [1, 2], [2, 3], []]
    # the same whatever the list's order
    assert prerequisites(statements[::-1]) == [[], [2, 3], [4], [4, 2], [], []]


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
