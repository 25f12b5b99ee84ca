"""What validate compares, decided from rows of sql/list_dumped_data.sql (issue 16): pg_dump's rules for the
selection, the plan held to them, and a configuration table compared on its filtered rows."""
from include.pgferry.logical.comparison import checksum_query, scope_against_plan
from include.pgferry.pg.dumped_data import data_in_scope
from include.pgferry.model import PG_CLASS, Column, LeftOutDependent, Plan, QualifiedName, Relation, Sequence
from include.pgferry.report.html import logical_report_html
from include.pgferry.report.model import build_report
from include.pgferry.report.text import render_report


def row(oid, schema, name, relkind="r", parent=None, extension=None, condition="", owner=None, owner_column=None,
        columns=(("id", 23), ("v", 25))):
    return {"oid": oid, "schema": schema, "name": name, "relkind": relkind, "is_partition": parent is not None,
            "parent_oid": parent, "extension": extension, "condition": condition, "bytes": 8192,
            "owner_table_oid": owner, "owner_column": owner_column,
            "columns": [list(c) for c in columns] if relkind == "r" else []}


ROWS = [
    row(1, "app", "accounts"),
    row(2, "app", "entries", relkind="p"),
    row(3, "app", "entries_2023", parent=2),
    row(4, "archive", "entries_2024", parent=2),          # a partition in a schema not chosen
    row(5, "app", "accounts_id_seq", relkind="S", owner=1, owner_column="id"),
    row(6, "app", "invoice_no", relkind="S"),
    row(7, "public", "spatial_ref_sys", extension="postgis", condition="WHERE NOT (srid BETWEEN 2000 AND 2217)"),
    row(8, "public", "notes"),
    row(9, "app", "notes_v_seq", relkind="S", owner=8, owner_column="v"),
]


def names(scope):
    return sorted(str(d.source) for d in scope)


def test_the_whole_database_takes_every_table_sequence_and_configuration_table_but_no_partitioned_parent():
    scope = data_in_scope(ROWS, [], [])
    assert names(scope) == ["app.accounts", "app.accounts_id_seq", "app.entries_2023", "app.invoice_no",
                            "app.notes_v_seq", "archive.entries_2024", "public.notes", "public.spatial_ref_sys"]
    (srs,) = [d for d in scope if d.source.name == "spatial_ref_sys"]
    assert (srs.extension, srs.condition) == ("postgis", "WHERE NOT (srid BETWEEN 2000 AND 2217)")


def test_a_chosen_table_takes_its_partitions_anywhere_and_the_sequences_its_chosen_columns_own():
    assert names(data_in_scope(ROWS, ["app.entries", "app.accounts"], [])) == [
        "app.accounts", "app.accounts_id_seq", "app.entries_2023", "archive.entries_2024"]
    # a column list: the sequence of a column left out stays behind
    scope = data_in_scope(ROWS, ["public.notes(id)"], [])
    assert names(scope) == ["public.notes"] and scope[0].chosen_columns == ("id",)


def test_a_configuration_table_comes_with_its_schema_or_by_name_as_in_pg_dump_and_exclude_takes_it_back():
    # (an owned sequence follows its table's column, whatever its own schema)
    assert names(data_in_scope(ROWS, ["public"], [])) == ["app.notes_v_seq", "public.notes", "public.spatial_ref_sys"]
    assert names(data_in_scope(ROWS, ["public.notes"], [])) == ["app.notes_v_seq", "public.notes"]
    assert names(data_in_scope(ROWS, ["public"], ["public.spatial_ref_sys"])) == ["app.notes_v_seq", "public.notes"]
    assert names(data_in_scope(ROWS, ["app"], ["app.accounts", "app.invoice_no"])) == [
        "app.entries_2023", "archive.entries_2024"]


def relation(oid, schema, name, target=None, columns=("id", "v"), dropped=()):
    return Relation(oid, QualifiedName(schema, name), QualifiedName(*(target or (schema, name))), "r",
                    columns=tuple(Column(c, c, "int", 23, True, "", "") for c in columns), dropped_columns=dropped)


def test_the_plan_is_held_to_the_scope_table_by_table_and_column_by_column():
    plan = Plan(relations=(relation(1, "app", "accounts", ("shop", "accounts")), relation(3, "app", "entries_2023"),
                           relation(8, "public", "notes", columns=("id",), dropped=("v",))),
                sequences=(Sequence(5, QualifiedName("app", "accounts_id_seq"),
                                    QualifiedName("shop", "accounts_id_seq")),))
    scope = scope_against_plan(data_in_scope(ROWS, [], []), plan, {"app": "shop"})
    assert scope.not_planned == ["archive.entries_2024"]
    assert scope.columns_left_out == ["public.notes (v)"]        # the selection took every column
    assert scope.sequences_not_planned == ["app.invoice_no", "app.notes_v_seq"]
    by_key = {t.key: t for t in scope.tables}
    assert sorted(by_key) == ["app.accounts", "app.entries_2023", "public.notes", "public.spatial_ref_sys"]
    assert by_key["app.accounts"].target == QualifiedName("shop", "accounts")
    assert scope.misplaced == [     # the rename Param moves schema app: the plan forgot it for one partition
        "table app.entries_2023: the plan copies it to app.entries_2023, the rename Param says shop.entries_2023"]
    # not in the plan, compared all the same: under its schema's name, on the rows pg_dump dumps of it
    srs = by_key["public.spatial_ref_sys"]
    assert (srs.target, srs.extension) == (QualifiedName("public", "spatial_ref_sys"), "postgis")
    assert srs.columns == (("id", "id", 23), ("v", "v", 25))
    assert checksum_query("public", "spatial_ref_sys", [("id", 23)], "md5", srs.condition).as_string(None).endswith(
        'FROM ONLY "public"."spatial_ref_sys" WHERE NOT (srid BETWEEN 2000 AND 2217)')


def test_what_skip_unmigratable_leaves_out_is_named_not_failed_and_only_with_it():
    left = LeftOutDependent("table", "archive.entries_2024", "archive", "function app.c_fn()", ((PG_CLASS, 4),))
    plan = Plan(relations=(relation(1, "app", "accounts", columns=("id",), dropped=("v",)),),
                left_out_dependents=(left,))
    rows = [ROWS[0], ROWS[3], row(10, "app", "accounts_v_seq", relkind="S", owner=1, owner_column="v"),
            row(11, "archive", "entries_seq", relkind="S", owner=4, owner_column="id")]
    scope = scope_against_plan(data_in_scope(rows, [], []), plan, {}, skip_unmigratable=True)
    # the sequences go with the column and the table they belong to
    assert (scope.left_out, scope.not_planned, scope.columns_left_out, scope.sequences_not_planned) == (
        ["archive.entries_2024", "app.accounts_v_seq", "archive.entries_seq"], [], [], [])
    scope = scope_against_plan(data_in_scope(rows, [], []), plan, {}, skip_unmigratable=False)
    assert (scope.left_out, scope.not_planned, scope.columns_left_out, scope.sequences_not_planned) == (
        [], ["archive.entries_2024"], ["app.accounts (v)"], ["app.accounts_v_seq", "archive.entries_seq"])


def test_the_report_names_every_shortfall_and_a_configuration_table_as_such():
    plan = Plan(relations=(relation(1, "app", "accounts"),))
    scope = scope_against_plan(data_in_scope(ROWS[:1] + ROWS[6:7], [], []), plan, {})
    scope.missing_on_target = ["app.accounts"]
    table = {"table": "public.spatial_ref_sys", "target": "public.spatial_ref_sys", "source_rows": 1,
             "target_rows": 0, "rows_match": False, "checksum_match": False, "ok": False, "extension": "postgis"}
    report = build_report({"started_at": 0, "source": "s", "target": "t"}, [table], {}, {}, {}, {}, [], [],
                          scope=scope.to_report())
    assert report["problems"] == [
        "table app.accounts: missing on the target",
        "table public.spatial_ref_sys: rows 1 on the source, 0 on the target (the rows pg_dump dumps of extension "
        "postgis's configuration table)"]
    assert report["scope"]["configuration_tables"] == ["public.spatial_ref_sys (postgis)"]
    text = render_report(report)
    assert "in scope (source catalog: what pg_dump dumps for this selection): 2 table(s) with data, 0 sequence(s); " \
           "1 the plan or the target falls short of" in text
    assert "configuration table: public.spatial_ref_sys (postgis), compared on the rows pg_dump dumps of it" in text
    assert "NOT MIGRATED: app.accounts" in logical_report_html(report)


def test_a_table_or_column_the_plan_puts_elsewhere_than_the_rename_param_is_named():
    renamed = Relation(1, QualifiedName("app", "accounts"), QualifiedName("app", "ledger"), "r",
                       columns=(Column("id", "id", "int", 23, True, "", ""), Column("v", "value", "text", 25, True,
                                                                                  "", "")))
    plan = Plan(relations=(renamed,))
    rename = {"app.accounts": "ledger", "app.accounts.v": "value"}
    assert scope_against_plan(data_in_scope(ROWS[:1], [], []), plan, rename).misplaced == []
    assert scope_against_plan(data_in_scope(ROWS[:1], [], []), plan, {"app.accounts": "ledger"}).misplaced == [
        "table app.accounts: the plan copies column v to value, the rename Param says v"]
    assert scope_against_plan(data_in_scope(ROWS[:1], [], []), plan, {"app.accounts.v": "value"}).misplaced == [
        "table app.accounts: the plan copies it to app.ledger, the rename Param says app.accounts"]
