"""Every blocking precheck finding, against real servers, each leaving the target untouched."""
import uuid

import pytest

from include.pgferry.logical.precheck import precheck
from include.pgferry.checks.findings import PrecheckFailed
from tests.integration.conftest import SQL
from localstack import airflow_env


pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pre_db(pg_source):
    pg_source.recreate_db("pre")
    pg_source.run_sql_file(SQL / "subset.sql", "pre")
    return "pre"


def failing(params):
    with pytest.raises(PrecheckFailed) as info:
        precheck(params)
    return info.value



def test_a_clean_precheck_passes_and_records_the_source_write_counters(pre_db, connections, untouched):
    state = precheck(connections(pre_db))
    assert {t["name"] for t in state["plan"]["relations"]} >= {"orders", "order_lines", "contacts"}
    assert state["write_counters"] and state["source_bytes"] > 0
    assert any("citext" in w["message"] for w in state["warnings"])   # will be created on the target


def test_unreachable_target(pre_db, connections, pg_target, untouched):
    params = connections(pre_db)
    airflow_env.postgres_connection("pgferry_target", 1, "nowhere")
    err = failing(params)
    assert "[reachable] cannot connect to the target pgferry_target (postgres@127.0.0.1:1/nowhere)" in str(err)


def test_unknown_objects_bad_syntax_and_bad_renames_are_all_reported_at_once(pre_db, connections, untouched):
    err = failing({**connections(pre_db), "objects": ["sales.nope", "ghost", "sales.orders(nocol)", "a..b"],
                   "rename": {"sales.missing": "x", "sales.orders": "a.b"}})
    text = str(err)
    for words in ("sales.nope is not a table or view", "schema ghost does not exist", "has no column nocol",
                  "'a..b': expected an identifier", "sales.missing is not among the migrated objects",
                  "must be one bare name"):
        assert words in text, words


def test_source_user_without_select(pre_db, pg_source, connections, untouched):
    role = f"reader_{uuid.uuid4().hex[:6]}"
    pg_source.execute(f"CREATE ROLE {role} LOGIN")
    pg_source.execute(f"GRANT USAGE ON SCHEMA sales, crm TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA crm TO {role}; "
                      f"GRANT SELECT ON sales.orders TO {role}", dbname=pre_db)
    err = failing({**connections(pre_db, source_user=role), "objects": ["sales.orders", "sales.order_lines", "crm"]})
    assert "[source privileges] the source user lacks SELECT on sales.order_lines" in str(err)
    assert "sales.orders," not in str(err)
    # who, on which database, and the statement that fixes it
    assert f"(source user {role} on database {pre_db})" in str(err)
    assert f'fix: GRANT SELECT ON "sales"."order_lines", "sales"."orders_id_seq" TO "{role}"' in str(err)


def test_source_user_without_usage_on_pg_catalog(pg_source, connections, untouched):
    db = f"nocat_{uuid.uuid4().hex[:6]}"
    role = f"nocat_{uuid.uuid4().hex[:6]}"
    pg_source.recreate_db(db)
    pg_source.execute(f"CREATE ROLE {role} LOGIN")
    pg_source.execute(f"CREATE TABLE public.t (x int); GRANT SELECT ON public.t TO {role}; "
                      f"REVOKE USAGE ON SCHEMA pg_catalog FROM PUBLIC", dbname=db)
    err = failing(connections(db, source_user=role))
    assert "lacks USAGE on schema pg_catalog" in str(err)
    assert f"the source user {role} cannot read the catalog" in str(err)
    assert f'fix: GRANT USAGE ON SCHEMA pg_catalog TO "{role}"' in str(err)


def test_target_user_without_create(pre_db, pg_target, target_db, connections, untouched):
    role = f"weak_{uuid.uuid4().hex[:6]}"
    pg_target.execute(f"CREATE ROLE {role} LOGIN")
    pg_target.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC", dbname=target_db)
    err = failing({**connections(pre_db, target_user=role), "keep_owners": False, "objects": ["sales.customers"]})
    assert "[target privileges] the target user lacks CREATE on the target database, needed to create schema(s) " \
           "sales" in str(err)
    assert f"(target user {role} on database {target_db})" in str(err)
    assert f'fix: GRANT CREATE ON DATABASE "{target_db}" TO "{role}"' in str(err)


def test_target_user_who_may_not_create_the_copy_lanes_schema(pre_db, pg_target, target_db, connections):
    """The copy lanes keep the run's list of units in schema pgferry_copy on the target (logical/claims.py): a user
    that owns the migrated schema but may not create schemas is refused, named, until pgferry_copy is there."""
    role = f"owner_{uuid.uuid4().hex[:6]}"
    pg_target.execute(f"CREATE ROLE {role} LOGIN")
    pg_target.execute(f"CREATE SCHEMA sales AUTHORIZATION {role}", dbname=target_db)
    params = {**connections(pre_db, target_user=role), "keep_owners": False, "objects": ["sales.customers"]}
    err = failing(params)
    assert "[target privileges] the target user lacks CREATE on the target database, needed to create schema " \
           "pgferry_copy, where the copy lanes keep the run's list of units" in str(err)
    assert f'CREATE SCHEMA pgferry_copy AUTHORIZATION "{role}"' in str(err)
    assert "schema(s) sales" not in str(err)        # it owns that one
    pg_target.execute(f"CREATE SCHEMA pgferry_copy AUTHORIZATION {role}", dbname=target_db)
    assert precheck(params)["plan"]


def test_target_too_small(pre_db, connections, untouched):
    err = failing({**connections(pre_db), "target_free_bytes": 1000})
    assert "[target space]" in str(err) and "has only 0.00 GB free" in str(err)


def test_c_language_functions_are_named_and_can_be_excluded(pg_source, connections, untouched):
    db = f"cfunc_{uuid.uuid4().hex[:6]}"
    pg_source.recreate_db(db)
    pg_source.execute("CREATE SCHEMA app; CREATE TABLE app.t (x int)", dbname=db)
    pg_source.run_sql_file(SQL / "c_function.sql", db)
    err = failing(connections(db))
    assert "[C-language functions] C-language functions cannot be migrated: app.c_levenshtein(text, text)" in str(err)
    assert "exclude" in str(err)
    state = precheck({**connections(db), "exclude": ["app.c_levenshtein"]})
    assert state["plan"]["excluded_functions"][0]["name"] == "c_levenshtein"


def test_objects_already_on_the_target(pre_db, pg_target, target_db, connections):
    pg_target.execute("CREATE SCHEMA crm; CREATE TABLE crm.contacts (id int)", dbname=target_db)
    err = failing({**connections(pre_db), "objects": ["crm"]})
    assert "[target objects] the target already has crm.contacts" in str(err)
    assert pg_target.query("SELECT count(*) FROM crm.contacts", target_db) == [(0,)]


def test_owner_role_missing_on_the_target(pg_source, connections, untouched):
    db = f"owners_{uuid.uuid4().hex[:6]}"
    role = f"owner_{uuid.uuid4().hex[:6]}"
    pg_source.recreate_db(db)
    pg_source.execute(f"CREATE ROLE {role}")
    pg_source.execute(f"CREATE SCHEMA app; CREATE TABLE app.t (x int); ALTER TABLE app.t OWNER TO {role}", dbname=db)
    err = failing(connections(db))
    assert f"[roles] role(s) {role} own or are granted migrated objects but do not exist on the target" in str(err)
    precheck({**connections(db), "keep_owners": False})   # the documented way out


def test_rename_collisions(pre_db, connections, untouched):
    err = failing({**connections(pre_db), "objects": ["sales.orders", "sales.customers"],
                   "rename": {"sales.orders": "t", "sales.customers": "t", "sales.orders.total": "placed"}})
    assert "[rename collisions] sales.customers, sales.orders would all become sales.t" in str(err)
    assert "columns placed, total of sales.orders would all be named placed" in str(err)


def test_foreign_key_to_a_table_left_out(pre_db, connections, untouched):
    err = failing({**connections(pre_db), "objects": ["sales.order_lines"]})
    assert "[dependencies] foreign key(s) reference tables left out of objects: sales.order_lines -> sales.orders" \
        in str(err)


def test_view_on_a_table_left_out(pre_db, connections, untouched):
    err = failing({**connections(pre_db), "objects": ["sales.big_orders"]})
    assert "view(s) depend on objects that are not migrated: sales.big_orders uses sales.orders" in str(err)


def test_data_only_needs_the_tables_on_the_target(pre_db, connections, untouched):
    err = failing({**connections(pre_db), "objects": ["crm"], "migration_types": ["data"]})
    assert "[target objects] migration_types has no structure, but the target lacks crm.contacts" in str(err)


def test_data_only_into_tables_with_triggers_needs_a_user_who_can_switch_them_off(pre_db, pg_target, target_db,
                                                                                   connections):
    role = f"loader_{uuid.uuid4().hex[:6]}"
    pg_target.execute(f"CREATE ROLE {role} LOGIN")
    pg_target.execute(f"CREATE SCHEMA crm; CREATE TABLE crm.contacts (id int PRIMARY KEY, email text, note text); "
                      f"CREATE FUNCTION crm.f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; "
                      f"CREATE TRIGGER t BEFORE INSERT ON crm.contacts FOR EACH ROW EXECUTE FUNCTION crm.f(); "
                      f"GRANT USAGE ON SCHEMA crm TO {role}; GRANT ALL ON crm.contacts TO {role}", dbname=target_db)
    params = {**connections(pre_db, target_user=role), "objects": ["crm.contacts"], "migration_types": ["data"]}
    err = failing(params)
    assert "crm.contacts have triggers or foreign keys on the target" in str(err)
    assert pg_target.query("SELECT count(*) FROM crm.contacts", target_db) == [(0,)]
    # a user allowed to set session_replication_role passes
    precheck({**params, **connections(pre_db)})
