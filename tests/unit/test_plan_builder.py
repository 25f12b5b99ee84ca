"""The plan builder (logical/selection.build_plan): which relations, columns and sequences move, under
which names, and what is refused, rule by rule, against a catalog given as rows."""
import pytest

from include.pgferry.logical.selection import build_plan
from include.pgferry.model import ExcludedFunction, Plan, QualifiedName
from include.pgferry.pg.catalog import SourceCatalog


def relation(oid, schema, name, relkind="r", parent=None, nbytes=8192):
    return {"oid": oid, "schema": schema, "name": name, "relkind": relkind, "is_partition": parent is not None,
            "parent_oid": parent, "bytes": nbytes, "est_rows": 0, "owner": "bob", "populated": True}


def column(table_oid, num, name, type_oid=23, generated=""):
    return {"table_oid": table_oid, "num": num, "name": name, "type": "integer", "type_oid": type_oid,
            "type_kind": "b", "base_type_oid": 0, "generated": generated, "identity": ""}


def catalog(**extra):
    return SourceCatalog.from_rows(150000, schemas=[{"schema": "app"}, {"schema": "crm"}], relations=[
        relation(1, "app", "orders"), relation(2, "app", "lines"), relation(3, "app", "orders_id_seq", "S"),
        relation(4, "crm", "contacts"), relation(5, "app", "events", "p"), relation(6, "app", "events_2024", parent=5),
        relation(7, "app", "v", "v")],
        columns=[column(1, 1, "id"), column(1, 2, "total"), column(1, 3, "doubled", generated="s"),
                 column(2, 1, "order_id"), column(4, 1, "id"), column(5, 1, "at"), column(6, 1, "at")],
        sequences=[{"oid": 3, "schema": "app", "name": "orders_id_seq", "owner_table_oid": 1, "owner_column": "id"}],
        **extra)


def plan_of(objects=None, rename=None, exclude=None, cat=None):
    plan, problems = build_plan(cat or catalog(), objects, rename, exclude)
    return plan, problems


def names(plan):
    return sorted((r.source.schema, r.source.name) for r in plan.relations)


def test_no_objects_means_every_schema_and_the_whole_database():
    plan, problems = plan_of()
    assert not problems.errors
    assert plan.whole_database is True
    assert names(plan) == [("app", "events"), ("app", "events_2024"), ("app", "lines"), ("app", "orders"),
                           ("app", "v"), ("crm", "contacts")]


def test_a_partition_follows_its_parent_and_only_leaves_hold_data():
    plan, _ = plan_of(["app.events"])
    assert names(plan) == [("app", "events"), ("app", "events_2024")]
    assert [r.source.name for r in plan.data_tables] == ["events_2024"]


def test_an_owned_sequence_follows_its_table_and_its_column():
    plan, _ = plan_of(["app.orders"])
    assert [s.source.name for s in plan.sequences] == ["orders_id_seq"]
    plan, _ = plan_of(["app.orders(total)"])
    assert plan.sequences == ()


def test_a_column_list_keeps_only_those_columns_and_records_the_left_out_ones():
    plan, _ = plan_of(["app.orders(id, total)"])
    [orders] = plan.relations
    assert [c.name for c in orders.columns] == ["id", "total"]
    assert orders.dropped_columns == ("doubled",)


def test_renames_give_target_names_and_leave_source_names():
    plan, problems = plan_of(["app"], rename={"app": "shop", "app.orders": "purchases", "app.orders.total": "amount"})
    assert not problems.errors
    orders = next(r for r in plan.relations if r.source.name == "orders")
    assert orders.target == QualifiedName("shop", "purchases")
    assert {c.name: c.target_name for c in orders.columns}["total"] == "amount"
    assert plan.renamed is True


def test_exclude_takes_a_relation_out_and_lists_it_for_pg_dump():
    plan, _ = plan_of(["app"], exclude=["app.lines"])
    assert ("app", "lines") not in names(plan)
    assert QualifiedName("app", "lines") in plan.excluded_relations


@pytest.mark.parametrize("objects, rename, exclude, words", [
    (["nope"], None, None, "schema nope does not exist in the source database"),
    (["app.ghost"], None, None, "app.ghost is not a table or view"),
    (["app.v(x)"], None, None, "selects columns of a view"),
    (["app.orders(nocol)"], None, None, "has no column nocol"),
    (["app"], {"crm": "x"}, None, "schema crm is not among the migrated objects"),
    (["app.orders(id)"], {"app.orders.total": "t"}, None, "column app.orders.total is not among the migrated columns"),
    (["app"], None, ["app.ghost"], "app.ghost is neither a relation nor a function"),
])
def test_each_bad_input_names_what_to_fix(objects, rename, exclude, words):
    _, problems = plan_of(objects, rename, exclude)
    assert any(words in e for e in problems.errors), problems.errors


def test_an_excluded_function_is_recorded_not_a_relation():
    cat = catalog(functions=[{"oid": 90, "schema": "app", "name": "f", "args": "integer", "language": "c",
                              "owner": "bob", "body": ""}])
    plan, problems = plan_of(["app"], exclude=["app.f"], cat=cat)
    assert not problems.errors
    assert plan.excluded_functions == (ExcludedFunction(90, "app", "f", "integer"),)


def test_the_plans_xcom_form_is_plain_json_and_gives_the_same_plan_back():
    import json
    plan, _ = plan_of(["app.orders(id, total)", "app.events"], rename={"app.orders": "purchases"})
    xcom = json.loads(json.dumps(plan.to_xcom()))
    assert Plan.from_xcom(xcom) == plan
    assert xcom["relations"][-1]["target_name"] == "purchases"   # the form earlier runs stored
