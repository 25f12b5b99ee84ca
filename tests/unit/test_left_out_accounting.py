"""What the plan leaves out is one list (Plan.left_out_entries, with Plan.left_out_tags for what has no pg_dump
entry of its own): structure leaves exactly it out of pg_dump's table of contents (pg/ddl.left_out_of), and
validate out of the source's object counts (logical/comparison.count_by_kind)."""
from include.pgferry.logical.comparison import count_by_kind
from include.pgferry.logical.selection import build_plan
from include.pgferry.model import (ExcludedFunction, LeftOutDependent, LeftOutObject, Plan, QualifiedName,
                                   Relation)
from include.pgferry.pg.catalog import SourceCatalog
from include.pgferry.pg.ddl import TocEntry, left_out_of

OPERATOR, PROC, CONSTRAINT = 2617, 1255, 2606


def listed(kind, oid, class_oid, schema="public", relation=None):
    """A row of sql/list_dumped_objects.sql."""
    return {"kind": kind, "schema": schema, "relation": relation, "class_oid": class_oid, "oid": oid}


# The regression database's operators as the source lists them: 10 that migrate and `<%`, whose function
# is C. `>%` and `>=%`, its commutator and negator, are shell operators (oprcode 0): pg_dump never dumps them,
# so they are not listed, but they depend on the type `widget` and so are among what the plan leaves out.
OPERATORS = [listed("operator", oid, OPERATOR) for oid in (18499, 18505, 18507, 18513, 28002, 33381, 33385,
                                                           33388, 33391, 33394, 18662)]
LEFT_OUT_OPERATORS = frozenset({(OPERATOR, 18662), (OPERATOR, 18660), (OPERATOR, 18661)})


def test_what_is_left_out_is_subtracted_by_identity_so_a_shell_operator_is_not_subtracted_twice():
    # the target holds the 10 operators that migrated; subtracting one per left-out operator gave 8
    source = count_by_kind(OPERATORS, [], ["public"], LEFT_OUT_OPERATORS)
    target = count_by_kind(OPERATORS[:-1], [], ["public"])
    assert source == target == {"operator": 10}


def test_only_objects_in_scope_count_and_a_left_out_one_only_where_it_is():
    rows = [listed("function", 1, PROC), listed("function", 2, PROC, schema="other"),
            listed("check constraint", 3, CONSTRAINT, relation="readings"),
            listed("check constraint", 4, CONSTRAINT, relation="unmigrated")]
    assert count_by_kind(rows, [QualifiedName("public", "readings")], ["public"]) == \
        {"check constraint": 1, "function": 1}
    assert count_by_kind(rows, [QualifiedName("public", "readings")], ["public"],
                         frozenset({(CONSTRAINT, 3), (PROC, 2)})) == {"function": 1}


def toc_entry(dump_id, desc, rest, catalog_oid=0, object_oid=0, depends_on=(), section="pre-data"):
    return TocEntry(f"{dump_id}; {catalog_oid} {object_oid} {desc} {rest}", dump_id, catalog_oid, object_oid, desc,
                    rest, section, tuple(depends_on))


# pg_restore --list --verbose of a database like tests/support/sql/c_dependents.sql: app.c_num's I/O
# functions are C; a cast, an operator class and its family use the type.
TOC = [
    toc_entry(1, "SHELL TYPE", "app c_num bob"),
    toc_entry(2, "FUNCTION", "app c_num_in(cstring) bob", PROC, 10, [1]),
    toc_entry(3, "TYPE", "app c_num bob", 1247, 20, [2]),
    toc_entry(4, "CAST", "- CAST (app.c_num AS text) bob", 2605, 80, [3]),
    toc_entry(5, "OPERATOR FAMILY", "app c_num_ops USING btree bob", 2753, 82, [3]),
    toc_entry(6, "OPERATOR CLASS", "app c_num_ops USING btree bob", 2616, 81, [5]),
    toc_entry(7, "FUNCTION", "app c_levenshtein(integer) bob", PROC, 90),
    toc_entry(8, "TABLE", "app readings bob", 1259, 40, [3]),
    toc_entry(9, "COMMENT", "- CAST (app.c_num AS text) bob", depends_on=[4]),
    toc_entry(10, "COMMENT", "app OPERATOR CLASS c_num_ops USING btree bob", depends_on=[6]),
    toc_entry(11, "COMMENT", "app OPERATOR FAMILY c_num_ops USING btree bob", depends_on=[5]),
    toc_entry(12, "ACL", "app TYPE c_num bob", depends_on=[3]),
    toc_entry(13, "COMMENT", "app FUNCTION c_levenshtein(integer) bob", depends_on=[7]),
    toc_entry(14, "ACL", "app FUNCTION c_levenshtein(integer) bob", depends_on=[7]),
    toc_entry(15, "COMMENT", "app CONSTRAINT note_distance ON readings bob", depends_on=[8]),
    toc_entry(16, "COMMENT", "app COLUMN readings.reading bob", depends_on=[8]),
    toc_entry(17, "ACL", "app COLUMN readings.reading bob", depends_on=[8, 19]),
    toc_entry(18, "COMMENT", "app COLUMN readings.note bob", depends_on=[8]),
    toc_entry(19, "ACL", "app TABLE readings bob", depends_on=[8]),
    toc_entry(20, "SECURITY LABEL", "app TYPE c_num bob", depends_on=[3]),
]


def plan_leaving_out_c_num() -> Plan:
    readings = Relation(40, QualifiedName("app", "readings"), QualifiedName("app", "readings"), "r",
                        dropped_columns=("reading",))
    return Plan(
        relations=(readings,),
        excluded_functions=(ExcludedFunction(10, "app", "c_num_in", "cstring"),
                            ExcludedFunction(11, "app", "c_levenshtein", "text, text")),
        left_out_dependents=(
            LeftOutDependent("type", "app.c_num", "app", "C-language function", ((1247, 20),), name="c_num"),
            LeftOutDependent("cast", "(app.c_num AS pg_catalog.text)", None, "type app.c_num", ((2605, 80),)),
            LeftOutDependent("operator family", "app.c_num_ops USING btree", "app", "type app.c_num", ((2753, 82),)),
            LeftOutDependent("operator class", "app.c_num_ops USING btree", "app", "type app.c_num", ((2616, 81),)),
            LeftOutDependent("table constraint", "note_distance on app.readings", "app", "C-language function",
                             ((CONSTRAINT, 70),), "CONSTRAINT note_distance ON readings",
                             QualifiedName("app", "readings"), "note_distance"),
        ))


def test_structure_leaves_out_the_entries_and_their_comments_grants_and_labels():
    kept = [e.dump_id for e in left_out_of(TOC, plan_leaving_out_c_num())]
    # what stays: the SQL overload of the C function's name with its comment and grant, the table with its
    # grant and the comment of the column that migrates
    assert kept == [7, 8, 13, 14, 18, 19]


def test_without_anything_left_out_the_toc_is_whole():
    assert left_out_of(TOC, Plan()) == TOC


def test_validate_and_structure_read_one_list():
    plan = plan_leaving_out_c_num()
    left_out = {(e.catalog_oid, e.object_oid) for e in TOC} - {(e.catalog_oid, e.object_oid)
                                                               for e in left_out_of(TOC, plan)}
    assert left_out - {(0, 0)} <= plan.left_out_entries
    assert plan.left_out_entries == {(PROC, 10), (PROC, 11), (1247, 20), (2605, 80), (2753, 82), (2616, 81),
                                     (CONSTRAINT, 70)}
    assert plan.left_out_tags == {("app", "CONSTRAINT note_distance ON readings"), ("app", "COLUMN readings.reading")}


def test_pg_dump_tags_quote_as_pg_dump_does():
    plan = Plan(relations=(Relation(1, QualifiedName("app", "Order"), QualifiedName("app", "Order"), "r",
                                    dropped_columns=("between", "note")),))
    assert plan.left_out_tags == {("app", 'COLUMN "Order"."between"'), ("app", 'COLUMN "Order".note')}


def test_an_index_key_and_trigger_that_need_a_column_left_out_are_on_the_same_list():
    relation = {"oid": 1, "schema": "app", "name": "orders", "relkind": "r", "is_partition": False,
                "parent_oid": None, "bytes": 8192, "est_rows": 0, "owner": "bob", "populated": True}
    column = lambda num, name: {"table_oid": 1, "num": num, "name": name, "type": "integer",  # noqa: E731
                                "type_oid": 23, "type_kind": "b", "base_type_oid": 0, "generated": "", "identity": ""}
    uses_total = lambda kind, oid, name: {"dep_kind": kind, "dep_oid": oid, "dep_name": name,  # noqa: E731
                                          "dep_table_oid": 1, "ref_table_oid": 1, "column_num": 2}
    cat = SourceCatalog.from_rows(150000, schemas=[{"schema": "app"}], relations=[relation],
                                  columns=[column(1, "id"), column(2, "total")],
                                  dependencies=[uses_total("index", 11, "orders_total_idx"),
                                                uses_total("check constraint", 12, "total_positive"),
                                                uses_total("trigger", 13, "total_audit")])
    plan, _ = build_plan(cat, ["app.orders(id)"], None, None)
    assert {(o.kind, o.entry, o.tag) for o in plan.left_out_objects} == {
        ("index", (1259, 11), ""), ("trigger", (2620, 13), ""),
        ("check constraint", (CONSTRAINT, 12), "CONSTRAINT total_positive ON orders")}
    assert {(1259, 11), (CONSTRAINT, 12), (2620, 13)} <= plan.left_out_entries
    assert Plan.from_xcom(plan.to_xcom()) == plan
