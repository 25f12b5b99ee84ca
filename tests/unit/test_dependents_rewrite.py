"""What renames and left-out dependents change in pg_dump's statements: trigger arguments that are exactly a
renamed column, and a check constraint left out of its CREATE TABLE because it calls a C function."""
from include.pgferry.pg.ddl import RenameContext, rewrite

TRIGGER = ("CREATE TRIGGER film_fulltext_trigger BEFORE INSERT OR UPDATE ON public.film FOR EACH ROW EXECUTE "
           "FUNCTION tsvector_update_trigger('fulltext', 'pg_catalog.english', 'title', 'description');")


def test_a_trigger_argument_that_is_exactly_a_renamed_column_is_renamed_with_it():
    ctx = RenameContext(tables={("public", "film"): "movie"}, columns={("public", "film"): {"title": "name"}})
    [stmt] = rewrite(TRIGGER, ctx, rename_columns=True).statements
    assert "ON public.movie" in stmt
    assert "tsvector_update_trigger('fulltext', 'pg_catalog.english', 'name', 'description')" in stmt


def test_other_arguments_and_other_tables_keep_their_text():
    ctx = RenameContext(columns={("public", "actor"): {"title": "name"}})
    [stmt] = rewrite(TRIGGER, ctx, rename_columns=True).statements
    assert stmt == TRIGGER.rstrip(";")


def test_an_argument_naming_a_left_out_column_does_not_drop_the_trigger():
    ctx = RenameContext(dropped={("public", "film"): {"description"}})
    out = rewrite(TRIGGER, ctx, rename_columns=True)
    assert len(out.statements) == 1 and out.warnings == []


def test_a_check_constraint_left_out_is_removed_from_create_table_and_the_rest_stays():
    sql = ("CREATE TABLE app.readings (id integer NOT NULL, note text NOT NULL, "
           "CONSTRAINT note_distance CHECK ((app.c_levenshtein(note, ''::text) >= 0)), CONSTRAINT id_positive CHECK (id > 0));")
    ctx = RenameContext(dropped_constraints={("app", "readings"): {"note_distance"}})
    out = rewrite(sql, ctx, rename_columns=False)
    [stmt] = out.statements
    assert "c_levenshtein" not in stmt and "id_positive" in stmt and "note text NOT NULL" in stmt
    assert out.warnings == ["constraint note_distance on app.readings depends on an object that does not migrate "
                            "and is not created"]


def test_string_constants_are_found_in_views_and_expressions_but_not_regclass_literals():
    from include.pgferry.checks.pg import string_constants
    view = (" SELECT pg_total_relation_size(to_regclass('shop.film'::text)) AS bytes, 'shop.actor'::regclass AS r "
            "FROM shop.film WHERE film.title <> 'x'")
    assert string_constants(view, is_query=True) == ["shop.film", "x"]
    assert string_constants("has_table_privilege('film', 'SELECT')", is_query=False) == ["film", "SELECT"]
