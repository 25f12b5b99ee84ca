"""The dependency rules (pg/dependencies.py, and how build_plan and the checks use them), on pg_depend rows
as sql/list_object_dependencies.sql returns them."""
from include.pgferry.logical.selection import build_plan
from include.pgferry.pg.unmigratable import shown
from include.pgferry.pg.catalog import SourceCatalog
from include.pgferry.pg.dependencies import DependencyGraph

PROC, TYPE, CLASS, OPER, CON = "pg_proc", "pg_type", "pg_class", "pg_operator", "pg_constraint"
CLASS_OIDS = {PROC: 1255, TYPE: 1247, CLASS: 1259, OPER: 2617, CON: 2606}


def dep(obj, ref, obj_type, identity, deptype="n", schema="app", relkind=None, table_oid=None, raw=None):
    """obj and ref are (catalog, oid, subid); raw the (catalog oid, oid) folded into obj (default: obj itself)."""
    raw = raw or (CLASS_OIDS[obj[0]], obj[1])
    return {"raw_class_oid": raw[0], "raw_oid": raw[1], "obj_class": obj[0], "obj_class_oid": CLASS_OIDS[obj[0]],
            "obj_oid": obj[1], "obj_subid": obj[2], "ref_class": ref[0], "ref_oid": ref[1],
            "ref_subid": ref[2], "deptype": deptype, "obj_type": obj_type, "obj_schema": schema, "obj_name": None,
            "obj_identity": identity, "obj_relkind": relkind, "obj_table_oid": table_oid}


C_IN, C_OUT, C_CHECK = (PROC, 10, 0), (PROC, 11, 0), (PROC, 12, 0)
C_TYPE, C_ARRAY = (TYPE, 20, 0), (TYPE, 21, 0)
EQ_FUNC, EQ_OP = (PROC, 30, 0), (OPER, 31, 0)
READINGS, CUSTOMER = 40, 50
READING_COL, NOTE_COL = (CLASS, READINGS, 3), (CLASS, READINGS, 2)
VIEW_ALL, VIEW_IDS = (CLASS, 60, 0), (CLASS, 61, 0)
CHECK = (CON, 70, 0)
CUSTOMER_ROW, REWARDS = (TYPE, 51, 0), (PROC, 80, 0)
SEQ = 90

ROWS = [
    dep(C_TYPE, C_IN, "type", "app.c_num"), dep(C_TYPE, C_OUT, "type", "app.c_num"),
    dep(C_ARRAY, C_TYPE, "type", "app.c_num[]", deptype="i"),
    dep(EQ_FUNC, C_TYPE, "function", "app.c_num_eq(app.c_num,app.c_num)"),
    dep(EQ_OP, EQ_FUNC, "operator", "app.===(app.c_num,app.c_num)"),
    dep(READING_COL, C_TYPE, "table column", "app.readings.reading", relkind="r"),
    dep(VIEW_ALL, READING_COL, "view", "app.reading_values", relkind="v", raw=(2618, 62)),
    dep(VIEW_ALL, (CLASS, READINGS, 1), "view", "app.reading_values", relkind="v", raw=(2618, 62)),
    dep(VIEW_IDS, (CLASS, READINGS, 1), "view", "app.reading_ids", relkind="v", raw=(2618, 63)),
    dep(VIEW_IDS, NOTE_COL, "view", "app.reading_ids", relkind="v", raw=(2618, 63)),
    dep(CHECK, C_CHECK, "table constraint", "note_distance on app.readings", table_oid=READINGS),
    dep(CHECK, NOTE_COL, "table constraint", "note_distance on app.readings", deptype="a", table_oid=READINGS),
    dep(CUSTOMER_ROW, (CLASS, CUSTOMER, 0), "type", "app.customer", deptype="i"),
    dep(REWARDS, CUSTOMER_ROW, "function", "app.rewards(integer)"),
    # readings.id DEFAULT nextval('app.readings_seq'): the pg_attrdef row folded into its column
    dep((CLASS, READINGS, 1), (CLASS, SEQ, 0), "table column", "app.readings.id", relkind="r", raw=(2604, 95)),
]


def graph():
    return DependencyGraph(ROWS)


def test_the_closure_follows_dependents_transitively_and_stops_at_what_does_not_depend():
    found = graph().closure([C_IN])
    assert set(found) == {C_IN, C_TYPE, C_ARRAY, EQ_FUNC, EQ_OP, READING_COL, VIEW_ALL}
    assert found[EQ_OP] == EQ_FUNC and found[VIEW_ALL] == READING_COL   # what brought each one in
    assert VIEW_IDS not in found and CHECK not in found


def test_a_whole_object_stands_for_its_columns_but_a_column_only_for_itself():
    g = DependencyGraph(ROWS + [dep((CLASS, 99, 0), (CLASS, READINGS, 0), "table", "app.child", relkind="r")])
    assert VIEW_IDS not in g.closure([READING_COL])
    assert VIEW_IDS in g.closure([(CLASS, READINGS, 0)])


def test_a_function_signature_needs_the_table_of_its_row_type_and_defaults_need_their_sequences():
    g = graph()
    assert g.row_type_tables() == {51: CUSTOMER}
    assert g.needed_relations(REWARDS) == {CUSTOMER}
    assert g.default_sequences([READINGS]) == {SEQ}
    assert g.default_sequences([CUSTOMER]) == set()


def catalog():
    relation = lambda oid, name, kind="r": {"oid": oid, "schema": "app", "name": name, "relkind": kind,  # noqa: E731
                                            "is_partition": False, "parent_oid": None, "bytes": 8192,
                                            "est_rows": 0, "owner": "bob", "populated": True}
    column = lambda t, n, name: {"table_oid": t, "num": n, "name": name, "type": "integer",  # noqa: E731
                                 "type_oid": 23, "type_kind": "b", "base_type_oid": 0, "generated": "",
                                 "identity": ""}
    function = lambda oid, name, args, lang: {"oid": oid, "schema": "app", "name": name, "args": args,  # noqa: E731
                                              "language": lang, "owner": "bob", "body": "", "kind": "function"}
    return SourceCatalog.from_rows(
        150000, schemas=[{"schema": "app"}],
        relations=[relation(READINGS, "readings"), relation(CUSTOMER, "customer"), relation(60, "reading_values", "v"),
                   relation(61, "reading_ids", "v"), relation(SEQ, "readings_seq", "S"),
                   relation(91, "unused_seq", "S")],
        columns=[column(READINGS, 1, "id"), column(READINGS, 2, "note"), column(READINGS, 3, "reading"),
                 column(60, 1, "id"), column(60, 2, "reading"), column(61, 1, "id"), column(61, 2, "note")],
        sequences=[{"oid": SEQ, "schema": "app", "name": "readings_seq", "owner_table_oid": None,
                    "owner_column": None},
                   {"oid": 91, "schema": "app", "name": "unused_seq", "owner_table_oid": None, "owner_column": None}],
        functions=[function(10, "c_num_in", "cstring", "c"), function(11, "c_num_out", "app.c_num", "c"),
                   function(12, "c_check", "text", "c"), function(30, "c_num_eq", "app.c_num, app.c_num", "sql"),
                   function(80, "rewards", "integer", "sql")],
        object_dependencies=ROWS)


def test_skip_unmigratable_leaves_out_exactly_the_dependents_and_records_them():
    plan, problems = build_plan(catalog(), None, None, None, skip_unmigratable=True)
    assert not problems.errors
    readings = next(r for r in plan.relations if r.source.name == "readings")
    assert [c.name for c in readings.columns] == ["id", "note"] and readings.dropped_columns == ("reading",)
    assert {r.source.name for r in plan.relations} == {"readings", "customer", "reading_ids"}
    assert {f.name for f in plan.excluded_functions} == {"c_num_in", "c_num_out", "c_check", "c_num_eq"}
    by_identity = {d.identity: d for d in plan.left_out_dependents}
    assert by_identity["app.c_num"].entries == ((1247, 20),)
    assert by_identity["app.readings.reading"].entries == ()      # a column: the table itself stays
    check = by_identity["note_distance on app.readings"]
    assert (check.name, str(check.table)) == ("note_distance", "app.readings")
    assert by_identity["app.reading_values"].entries == ((1259, 60), (2618, 62))
    # one list of what is left out, which structure leaves out of the dump and validate out of the counts
    assert plan.left_out_entries == {(1255, 10), (1255, 11), (1255, 12), (1255, 30), (1247, 20), (1247, 21),
                                     (2617, 31), (1259, 60), (2618, 62), (2606, 70)}
    assert plan.left_out_objects == ()    # nothing needs the left-out column but what depends on the type
    # what has no pg_dump entry of its own for its comments and grants to follow: by pg_dump's tag
    assert plan.left_out_tags == {("app", "CONSTRAINT note_distance ON readings"), ("app", "COLUMN readings.reading")}
    assert [d.identity for d in shown(plan.left_out_dependents) if d.type == "type"] == ["app.c_num"]


def test_without_the_param_nothing_is_left_out_silently():
    plan, _ = build_plan(catalog(), None, None, None)
    assert plan.left_out_dependents == () and plan.excluded_functions == ()
    assert {r.source.name for r in plan.relations} >= {"readings", "reading_values"}


def test_a_table_selection_brings_only_the_sequences_its_defaults_use():
    plan, _ = build_plan(catalog(), ["app.readings"], None, None)
    assert [s.source.name for s in plan.sequences] == ["readings_seq"]
    plan, _ = build_plan(catalog(), ["app.readings(note)"], None, None)
    assert plan.sequences == ()
    plan, _ = build_plan(catalog(), ["app"], None, None)     # a whole schema keeps all its sequences
    assert sorted(s.source.name for s in plan.sequences) == ["readings_seq", "unused_seq"]


def test_what_a_chosen_table_needs_from_another_schema_comes_along_and_the_rest_of_it_stays():
    ref_type, ref_func, ref_seq, other_func = (TYPE, 200, 0), (PROC, 201, 0), (CLASS, 202, 0), (PROC, 203, 0)
    rows = [dep((CLASS, 300, 1), ref_type, "table column", "box.ticket.tier", schema="box", relkind="r"),
            dep((CLASS, 300, 2), ref_func, "table column", "box.ticket.serial", schema="box", relkind="r",
                raw=(2604, 301)),
            dep(ref_func, ref_seq, "function", "ref.next_serial()", schema="ref"),
            dep(ref_type, (TYPE, 199, 0), "type", "ref.tier", schema="ref"),          # its namespace-like need
            dep(other_func, ref_type, "function", "ref.unrelated(ref.tier)", schema="ref"),
            dep(ref_seq, (CLASS, 999, 0), "sequence", "ref.serial_seq", schema="ref", relkind="S"),
            dep((TYPE, 199, 0), (CLASS, 998, 0), "type", "ref.other_row", schema="ref", deptype="i")]
    rel = lambda oid, schema, name, kind="r": {"oid": oid, "schema": schema, "name": name, "relkind": kind,  # noqa: E731
                                               "is_partition": False, "parent_oid": None, "bytes": 0, "est_rows": 0,
                                               "owner": "bob", "populated": True}
    cat = SourceCatalog.from_rows(
        150000, schemas=[{"schema": "box"}, {"schema": "ref"}],
        relations=[rel(300, "box", "ticket"), rel(202, "ref", "serial_seq", "S"), rel(998, "ref", "other"),
                   rel(997, "ref", "unused_seq", "S")],
        columns=[{"table_oid": 300, "num": n, "name": c, "type": "x", "type_oid": 23, "type_kind": "b",
                  "base_type_oid": 0, "generated": "", "identity": ""} for n, c in ((1, "tier"), (2, "serial"))],
        sequences=[{"oid": 202, "schema": "ref", "name": "serial_seq", "owner_table_oid": None, "owner_column": None},
                   {"oid": 997, "schema": "ref", "name": "unused_seq", "owner_table_oid": None, "owner_column": None}],
        object_dependencies=rows)
    plan, problems = build_plan(cat, ["box.ticket"], None, None)
    assert not problems.errors
    assert [s.source for s in plan.schemas] == ["box", "ref"] and not any(s.whole for s in plan.schemas)
    assert plan.brought_along == ("sequence ref.serial_seq", "function ref.next_serial()", "type ref.tier")
    assert [s.source.name for s in plan.sequences] == ["serial_seq"]
    assert [str(q) for q in plan.excluded_relations] == ["ref.other", "ref.unused_seq"]
    # a table's row type is not brought along (it would need the table), and unneeded objects stay behind
    assert sorted(d.identity for d in plan.left_out_dependents) == ["ref.other_row", "ref.unrelated(ref.tier)"]
