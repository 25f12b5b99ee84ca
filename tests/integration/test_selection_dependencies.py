"""Selections whose dependencies must be complete (issue 11, item 6): what precheck refuses, naming the
objects and the fix, with nothing written to the target; and what comes along or is left out when the
selection is complete (the migration then succeeds and the target is right)."""
import pytest

from include.pgferry.checks.findings import PrecheckFailed
from include.pgferry.logical.precheck import precheck
from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.integration.conftest import SQL
from tests.support.migration import unique_db

pytestmark = [pytest.mark.integration]

FILM = {"objects": ["shop.film", "shop.language", "shop.film_size"], "rename": {"shop.film": "movie", "shop.film.title": "name"}}


@pytest.fixture(scope="module")
def shop_db(pg_source):
    db = unique_db("deps")
    pg_source.recreate_db(db)
    pg_source.run_sql_file(SQL / "dependencies.sql", db)
    return db


@pytest.fixture(scope="module")
def c_db(pg_source):
    db = unique_db("cdeps")
    pg_source.recreate_db(db)
    pg_source.run_sql_file(SQL / "c_function.sql", db)
    pg_source.run_sql_file(SQL / "c_dependents.sql", db)
    return db


def failing(params):
    with pytest.raises(PrecheckFailed) as info:
        precheck(params)
    return str(info.value)


def test_a_function_returning_an_unchosen_table_is_refused_with_both_fixes(shop_db, connections, untouched):
    err = failing({**connections(shop_db), **FILM})
    assert "[dependencies] objects that come with the chosen schemas use tables that are not migrated (their row " \
           "types): function shop.rewards(integer) needs shop.customer" in err
    assert 'fix: add shop.customer to objects, or exclude: ["shop.rewards"]' in err


def test_the_complete_selection_warns_about_bodies_and_trigger_arguments_and_brings_only_used_sequences(
        shop_db, connections, untouched):
    state = precheck({**connections(shop_db), **FILM, "exclude": ["shop.rewards"]})
    warnings = [w["message"] for w in state["warnings"]]
    assert any("function bodies name tables that are not migrated" in w and
               "shop.in_stock(p_film integer) uses shop.inventory" in w for w in warnings), warnings
    assert any("film_fulltext on shop.film: 'title' -> 'name'" in w for w in warnings), warnings
    assert any("shop.rated(r shop.rating) (film)" in w for w in warnings), warnings   # renamed name in a body
    assert any("string constants name renamed objects by their old names, which no rename rewrites (they are "
               "text): view shop.film_size: 'shop.film'" in w for w in warnings), warnings
    # free-standing sequences: those the chosen tables' defaults use, not customer_id_seq / inventory_id_seq
    assert sorted(s["name"] for s in state["plan"]["sequences"]) == ["film_id_seq", "language_id_seq"]


@pytest.mark.dagrun
def test_the_complete_selection_migrates_and_inserts_into_the_renamed_table_still_work(
        airflow_db, shop_db, pg_source, pg_target, target_db, connections):
    dr, states = run_dag(load_dag("postgres_logical_migration"),
                         {**connections(shop_db), **FILM, "exclude": ["shop.rewards"]})
    assert dr.state == "success", states
    assert xcom_value(dr, "validate")["ok"] is True
    rels = {r[0] for r in pg_target.query(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'shop' AND c.relkind IN ('r', 'S', 'v')", target_db)}
    assert rels == {"movie", "language", "film_size", "film_id_seq", "language_id_seq"}
    assert pg_target.query("SELECT count(*) FROM pg_proc WHERE proname = 'rewards'", target_db) == [(0,)]
    # the trigger argument follows the column rename: an insert computes the fulltext from `name`
    pg_target.execute("INSERT INTO shop.movie (name, language_id) VALUES ('A Quiet Place', 1)", target_db)
    assert pg_target.query("SELECT id, fulltext::text FROM shop.movie WHERE name = 'A Quiet Place'", target_db) == \
        [(150, "'place':3 'quiet':2")]
    assert pg_target.query("SELECT count(*), sum(id) FROM shop.movie WHERE id < 150", target_db) == \
        pg_source.query("SELECT count(*), sum(id) FROM shop.film", shop_db)


def test_c_functions_and_their_dependents_are_named_in_precheck(c_db, connections, untouched):
    err = failing(connections(c_db))
    assert "[C-language functions] C-language functions cannot be migrated: app.c_levenshtein(text, text), " \
           "app.c_num_in(cstring), app.c_num_out(app.c_num)" in err
    assert "These depend on them and cannot be created either: cast (app.c_num AS pg_catalog.text), function " \
           "app.c_num_cmp(app.c_num,app.c_num), function app.c_num_eq(app.c_num,app.c_num), operator " \
           "app.===(app.c_num,app.c_num), operator class app.c_num_ops USING btree, operator family app.c_num_ops " \
           "USING btree, table column app.readings.reading, table constraint note_distance on app.readings, type " \
           "app.c_num, view app.reading_values." in err
    assert "fix: set skip_unmigratable to true" in err
    # the C function's owner exists on the source only: needed while the function is among the migrated
    assert 'role(s) pgferry_c_owner own or are granted migrated objects' in err


def test_excluding_the_c_functions_alone_names_what_still_needs_them(c_db, connections, untouched):
    err = failing({**connections(c_db), "exclude": ["app.c_levenshtein", "app.c_num_in", "app.c_num_out"]})
    assert "[dependencies] objects depend on excluded function(s) and cannot be created without them: " in err
    assert "type app.c_num (needs app.c_num_in(cstring))" in err
    assert "table constraint note_distance on app.readings (needs app.c_levenshtein(text, text))" in err
    assert "fix: set skip_unmigratable to true" in err


@pytest.mark.dagrun
def test_skip_unmigratable_leaves_out_exactly_the_dependents_and_migrates_the_rest(
        airflow_db, c_db, pg_source, pg_target, target_db, connections):
    dr, states = run_dag(load_dag("postgres_logical_migration"), {**connections(c_db), "skip_unmigratable": True})
    assert dr.state == "success", states
    report = xcom_value(dr, "validate")
    assert report["ok"] is True
    # the owner of the C function alone is not needed on the target: the function is left out
    assert pg_target.query("SELECT count(*) FROM pg_roles WHERE rolname = 'pgferry_c_owner'") == [(0,)]
    # held to pg_dump's table of contents of the source, less exactly what structure left out of it
    assert report["dump_entries"]["differing"] == [] and report["dump_entries"]["entries"] > 5
    warnings = [w["message"] for w in xcom_value(dr, "precheck")["warnings"]]
    assert any(w.startswith("skip_unmigratable: left out C-language function(s) app.c_levenshtein(text, text)")
               and "view app.reading_values" in w for w in warnings), warnings
    assert any("function bodies call functions that are left out (excluded, C-language, or depending on those), "
               "which fail on the target when called: app.distance(a text, b text) (c_levenshtein)" in w
               for w in warnings), warnings
    q = lambda s: pg_target.query(s, target_db)  # noqa: E731
    assert q("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
             "WHERE n.nspname = 'app' ORDER BY 1") == [("app.c_levenshtein(integer)",), ("app.distance(text,text)",)]
    # the comments and grants of what is left out went with it; the SQL overload's stayed
    assert q("SELECT obj_description('app.c_levenshtein(integer)'::regprocedure, 'pg_proc'), "
             "(SELECT proacl::text FROM pg_proc WHERE oid = 'app.c_levenshtein(integer)'::regprocedure)") == \
        pg_source.query("SELECT obj_description('app.c_levenshtein(integer)'::regprocedure, 'pg_proc'), "
                        "(SELECT proacl::text FROM pg_proc WHERE oid = 'app.c_levenshtein(integer)'::regprocedure)",
                        c_db)
    assert q("SELECT count(*) FROM pg_opclass WHERE opcname = 'c_num_ops'") == [(0,)]
    assert q("SELECT count(*) FROM pg_opfamily WHERE opfname = 'c_num_ops'") == [(0,)]
    assert q("SELECT count(*) FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
             "WHERE c.relname = 'readings'") == [(0,)]
    assert q("SELECT count(*) FROM pg_type WHERE typname IN ('c_num', '_c_num')") == [(0,)]
    assert q("SELECT count(*) FROM pg_operator WHERE oprname = '==='") == [(0,)]
    assert q("SELECT attname FROM pg_attribute WHERE attrelid = 'app.readings'::regclass AND attnum > 0 "
             "AND NOT attisdropped ORDER BY attnum") == [("id",), ("note",)]
    assert q("SELECT conname FROM pg_constraint WHERE conrelid = 'app.readings'::regclass") == [("readings_pkey",)]
    assert q("SELECT relname FROM pg_class WHERE relkind = 'v' AND relnamespace = 'app'::regnamespace") == \
        [("reading_ids",)]
    assert q("SELECT id, note FROM app.readings ORDER BY id") == \
        pg_source.query("SELECT id, note FROM app.readings ORDER BY id", c_db)


@pytest.mark.dagrun
def test_objects_a_chosen_table_needs_from_a_schema_not_chosen_come_along_alone(
        airflow_db, shop_db, pg_source, pg_target, target_db, connections):
    dr, states = run_dag(load_dag("postgres_logical_migration"), {**connections(shop_db), "objects": ["box.ticket"]})
    assert dr.state == "success", states
    assert xcom_value(dr, "validate")["ok"] is True
    warnings = [w["message"] for w in xcom_value(dr, "precheck")["warnings"]]
    assert any("need objects of schemas not chosen, which come along (alone, without the rest of their schema): "
               "sequence ref.ticket_seq, sequence ref.serial_seq, function ref.next_serial(), function ref.stamp(), "
               "type ref.tier, type ref.code" in w for w in warnings), warnings
    q = lambda s: pg_target.query(s, target_db)  # noqa: E731
    assert q("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname = 'ref' ORDER BY 1") == [("serial_seq",), ("ticket_seq",)]
    assert q("SELECT proname FROM pg_proc WHERE pronamespace = 'ref'::regnamespace ORDER BY 1") == \
        [("next_serial",), ("stamp",)]
    assert q("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal") == [("ticket_stamp",)]
    assert q("SELECT typname FROM pg_type WHERE typnamespace = 'ref'::regnamespace AND typname NOT LIKE '\\_%' "
             "ORDER BY 1") == [("code",), ("tier",)]
    assert q("SELECT last_value FROM ref.ticket_seq") == pg_source.query("SELECT last_value FROM ref.ticket_seq",
                                                                         shop_db)
    # the defaults work on the target: the sequence and the function's sequence came along
    pg_target.execute("INSERT INTO box.ticket (tier, code) VALUES ('gold', 'Q')", target_db)
    assert q("SELECT id, serial FROM box.ticket WHERE code = 'Q'") == [(502, 9002)]
    assert q("SELECT id, tier::text, code FROM box.ticket WHERE id < 502 ORDER BY id") == \
        pg_source.query("SELECT id, tier::text, code FROM box.ticket ORDER BY id", shop_db)


def test_a_trigger_whose_function_is_excluded_is_refused_then_left_out_with_skip_unmigratable(
        shop_db, connections, untouched):
    params = {**connections(shop_db), **FILM, "exclude": ["shop.rewards", "shop.touch"]}
    err = failing(params)
    assert "[dependencies] objects depend on excluded function(s) and cannot be created without them: trigger " \
           "language_touch on shop.language (needs shop.touch())" in err
    state = precheck({**params, "skip_unmigratable": True})
    assert [(d["type"], d["identity"]) for d in state["plan"]["left_out_dependents"]] == \
        [("trigger", "language_touch on shop.language")]
    trigger = state["plan"]["left_out_dependents"][0]
    assert trigger["because"] == "excluded function shop.touch()" and trigger["entries"][0][0] == 2620   # pg_trigger
    assert state["plan"]["left_out_objects"] == []   # named once: validate and structure read the same entry


def test_a_policy_over_a_table_left_out_is_refused(shop_db, connections, untouched):
    err = failing({**connections(shop_db), "objects": ["pol.notes"]})
    assert "[dependencies] row level security policies use tables that are not migrated: policy own_notes on " \
           "pol.notes uses pol.owners; fix: add those tables to objects" in err
