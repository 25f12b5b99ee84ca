"""Which version of an extension the target gets, where structure puts CREATE EXTENSION, and how an
extension configuration table's rows are read, cleared and compared."""
from psycopg import sql

from include.pgferry.logical.comparison import checksum_query
from include.pgferry.logical.copying import source_copy_statement, target_copy_statement
from include.pgferry.logical.extensions import choose_version, create_statements, schemas_to_create, version_key
from include.pgferry.logical.structure import with_extensions
from include.pgferry.model import Extension, Plan, QualifiedName, Sequence, Unit
from include.pgferry.pg.ddl import RenameContext, rewrite

FILTER = "WHERE NOT (srid BETWEEN 2000 AND 2217)"


def text(stmt) -> str:
    return stmt if isinstance(stmt, str) else stmt.as_string(None)


def test_versions_order_as_numbers_not_as_text():
    assert version_key("1.10") > version_key("1.9") > version_key("1.4")
    assert version_key("3.3.2next") > version_key("3.3.2") > version_key("3.3.1")


def test_the_source_version_when_offered_else_a_newer_one_else_none():
    offered = ["1.4", "1.5", "1.6", "1.7", "1.8"]
    assert choose_version("1.6", offered, "1.8") == "1.6"
    assert choose_version("1.3", offered, "1.8") == "1.8"            # the target's default, newer
    assert choose_version("1.3", ["1.4", "1.5"], "1.4") == "1.4"     # its default is newer than the source's
    assert choose_version("1.4.5", ["1.4", "1.5", "1.6"], "1.4") == "1.6"   # the default is older: the newest
    assert choose_version("9.9", offered, "1.8") is None             # only older ones: refused
    assert choose_version("1.0", [], None) is None                   # not offered at all


def test_a_version_that_is_not_a_number_is_never_chosen():
    assert choose_version("3.3.0", ["3.3.2", "3.3.2next", "unpackaged"], "3.3.2") == "3.3.2"
    assert choose_version("0.1", ["unpackaged"], None) is None


PLAN = Plan(extensions=(Extension("citext", "ext", "1.6", "1.6"), Extension("postgis", "public", "3.3.2", "3.3.2"),
                        Extension("plpgsql", "pg_catalog", "1.0", "1.0", installed=True)))


def test_extensions_are_created_in_the_source_schema_and_version_and_an_installed_one_is_left_alone():
    assert [text(s) for s in create_statements(PLAN)] == [
        'CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA "ext" VERSION \'1.6\'',
        'CREATE EXTENSION IF NOT EXISTS "postgis" WITH SCHEMA "public" VERSION \'3.3.2\'']


def test_pg_dumps_create_extension_is_replaced_after_the_last_create_schema():
    dump = ("CREATE SCHEMA app;\nCREATE SCHEMA ext;\n"
            "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA ext;\n"
            "COMMENT ON EXTENSION citext IS 'case-insensitive';\n"
            "CREATE TABLE app.t (c ext.citext);\n")
    out = [text(s) for s in with_extensions(rewrite(dump, RenameContext(), rename_columns=False), PLAN, {"public"})]
    assert out == ["CREATE SCHEMA app", "CREATE SCHEMA ext",
                   'CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA "ext" VERSION \'1.6\'',
                   'CREATE EXTENSION IF NOT EXISTS "postgis" WITH SCHEMA "public" VERSION \'3.3.2\'',
                   "COMMENT ON EXTENSION citext IS 'case-insensitive'", "CREATE TABLE app.t (c ext.citext)"]


def test_a_selection_dump_gets_the_extension_schema_first_when_the_target_lacks_it():
    dump = "CREATE SCHEMA app;\nCREATE TABLE app.t (c ext.citext);\n"
    out = [text(s) for s in with_extensions(rewrite(dump, RenameContext(), rename_columns=False), PLAN, {"public"})]
    assert out[:2] == ['CREATE SCHEMA IF NOT EXISTS "ext"', "CREATE SCHEMA app"]
    assert out[2].startswith('CREATE EXTENSION IF NOT EXISTS "citext"')
    assert out[-1] == "CREATE TABLE app.t (c ext.citext)"
    assert schemas_to_create(PLAN, set(), {"public", "ext"}) == []


def unit(filter=None):
    return Unit(id="public.spatial_ref_sys", oid=1, source=QualifiedName("public", "spatial_ref_sys"),
                target=QualifiedName("public", "spatial_ref_sys"), columns=("srid", "auth_name"),
                target_columns=("srid", "auth_name"), binary=True, range=None, bytes=0, filter=filter)


def test_a_configuration_table_is_read_through_its_filter_and_loaded_without_freeze():
    assert source_copy_statement(unit(FILTER)).as_string(None) == (
        'COPY (SELECT "srid", "auth_name" FROM ONLY "public"."spatial_ref_sys" ' + FILTER
        + ") TO STDOUT (FORMAT binary)")
    assert source_copy_statement(unit("")).as_string(None) == (
        'COPY (SELECT "srid", "auth_name" FROM ONLY "public"."spatial_ref_sys" ) TO STDOUT (FORMAT binary)')
    assert target_copy_statement(unit(FILTER), False).as_string(None) == (
        'COPY "public"."spatial_ref_sys" ("srid", "auth_name") FROM STDIN (FORMAT binary)')


def test_validate_counts_the_filtered_rows_on_both_sides():
    q = checksum_query("public", "spatial_ref_sys", [("srid", 23)], "record", FILTER).as_string(None)
    assert q.endswith('FROM ONLY "public"."spatial_ref_sys" ' + FILTER)
    assert isinstance(sql.SQL(FILTER), sql.SQL)
    plain = checksum_query("app", "t", [("id", 23)], "record").as_string(None)
    assert plain.endswith('FROM ONLY "app"."t"')


def test_a_plan_and_a_unit_keep_the_filter_and_the_extensions_through_xcom():
    seq = Sequence(7, QualifiedName("topology", "topology_id_seq"), QualifiedName("topology", "topology_id_seq"))
    plan = Plan(extensions=PLAN.extensions, extension_sequences=(seq,))
    back = Plan.from_xcom(plan.to_xcom())
    assert back.extensions == PLAN.extensions and back.all_sequences == (seq,)
    assert Unit.from_xcom(unit(FILTER).to_xcom()).filter == FILTER
    assert Unit.from_xcom(unit().to_xcom()).filter is None


def test_an_extension_schema_renamed_by_the_plan_is_the_one_the_dump_creates():
    plan = Plan(extensions=(Extension("citext", "x2", "1.6", "1.6"),))
    dump = "CREATE SCHEMA ext;\nCREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA ext;\n"
    out = [text(s) for s in with_extensions(rewrite(dump, RenameContext(schemas={"ext": "x2"}), rename_columns=False),
                                            plan, set())]
    assert out == ["CREATE SCHEMA x2", 'CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA "x2" VERSION \'1.6\'']
