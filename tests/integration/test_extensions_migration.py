"""PostGIS and contrib extensions through the real DAG (issue 16), exact against pg_dump | pg_restore.

The source (tests/support/sql/extensions.sql) has postgis and uuid-ossp in public and hstore, citext,
ltree, pg_trgm, btree_gist, pgcrypto and unaccent in their own schema `ext`; their types in columns and a
domain, GiST/GIN indexes with their operator classes, an exclusion constraint, defaults calling their
functions, views and a materialized view over PostGIS functions; spatial_ref_sys with a user row inside
its pg_dump filter and a changed standard row outside it. pg_dump | pg_restore of the same source into
the same target server is the baseline: schema blocks, every table's rows (spatial_ref_sys whole: the
extension's own rows plus the filtered user row), sequences.
"""
from pathlib import Path

import pytest

from include.pgferry.checks.findings import PrecheckFailed
from include.pgferry.logical import copy_lane, finalize, plan_lanes, precheck, structure, validate
from include.pgferry.logical.units import tables_without_binary_io
from include.pgferry.pg.catalog import fetch
from localstack import airflow_env
from localstack.dagrun import load_dag, run_dag, xcom_value
from tests.support import regression_db
from tests.support.compare import compare_databases
from tests.support.migration import schema_lines, unique_db
from tests.support.regression_db import pg_bindir

pytestmark = [pytest.mark.integration, pytest.mark.dagrun]

SQL = Path(__file__).resolve().parents[1] / "support" / "sql" / "extensions.sql"
EXTENSIONS = {"btree_gist": "ext", "citext": "ext", "hstore": "ext", "ltree": "ext", "pg_trgm": "ext",
              "pgcrypto": "ext", "postgis": "public", "postgis_topology": "topology", "unaccent": "ext",
              "uuid-ossp": "public"}
INSTALLED = "SELECT e.extname, n.nspname, e.extversion FROM pg_extension e " \
            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql' ORDER BY 1"


@pytest.fixture(scope="module")
def extensions_db(pg_source):
    pg_source.recreate_db("extensions")
    pg_source.run_sql_file(SQL, "extensions")
    yield "extensions"
    pg_source.execute('DROP DATABASE IF EXISTS "extensions" WITH (FORCE)')


@pytest.fixture
def baseline(pg_source, pg_target, extensions_db):
    """pg_dump -Fc | pg_restore of the whole source into a fresh database of the target server."""
    name = unique_db("ext_baseline")
    regression_db.dump_and_restore(pg_source, extensions_db, pg_target, name)
    yield name
    pg_target.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _units(dr) -> dict:
    lanes = xcom_value(dr, "plan_lanes")
    return {u["id"]: u for lane in lanes for u in lane}


def test_whole_database_with_extensions_equals_pg_dump_restore(airflow_db, pg_source, pg_target, extensions_db,
                                                               target_db, baseline, connections):
    params = {**connections(extensions_db), "parallelism": 2}
    dr, states = run_dag(load_dag("postgres_logical_migration"), params)
    assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}

    # every extension in the source's schema and version
    assert pg_target.query(INSTALLED, target_db) == pg_source.query(INSTALLED, extensions_db)
    assert {r[0]: r[1] for r in pg_target.query(INSTALLED, target_db)} == EXTENSIONS

    # the plan carries spatial_ref_sys with its filter; extension types travel in binary, arrays of them in text
    state = xcom_value(dr, "precheck")
    filters = {(t["schema"], t["name"]): t["filter"] for t in state["plan"]["extension_tables"]}
    assert list(filters) == [("public", "spatial_ref_sys"), ("topology", "layer"), ("topology", "topology")]
    assert filters[("public", "spatial_ref_sys")].startswith("WHERE NOT (")
    assert filters[("topology", "layer")] == filters[("topology", "topology")] == ""   # every row
    assert [(q["schema"], q["name"]) for q in state["plan"]["extension_sequences"]] == [("topology", "topology_id_seq")]
    units = _units(dr)
    assert units["public.spatial_ref_sys"]["filter"] == filters[("public", "spatial_ref_sys")]
    assert units["app.places"]["binary"] is True          # citext, a domain over it, hstore, ltree, geometry, geography
    assert units["app.routes"]["binary"] is False         # ltree[] and hstore[]: the element OID is in the binary form
    assert units["public.spatial_ref_sys"]["binary"] is True

    # validate counted and checksummed the filtered rows on both sides: the user's SRID only
    report = xcom_value(dr, "validate")
    assert report["ok"] is True, report["problems"]
    srs = next(t for t in report["tables"] if t["table"] == "public.spatial_ref_sys")
    assert (srs["source_rows"], srs["target_rows"], srs["checksum_match"]) == (1, 1, True)
    topo = next(t for t in report["tables"] if t["table"] == "topology.layer")
    assert (topo["source_rows"], topo["target_rows"], topo["checksum_match"]) == (1, 1, True)
    assert report["dump_entries"]["differing"] == []

    # exact against pg_dump | pg_restore: schema, rows (spatial_ref_sys whole), sequences
    versus = compare_databases(pg_target.dsn(baseline), pg_target.dsn(target_db), pg_bindir())
    assert [str(d) for d in versus.differences] == []
    assert versus.tables == 12 and versus.rows > 8000 and versus.sequences == 8   # city_topo's, topology_id_seq
    assert pg_target.query("SELECT last_value, is_called FROM topology.topology_id_seq", target_db) == [(41, True)]
    assert [q["ok"] for q in report["sequences"] if q["sequence"] == "topology.topology_id_seq"] == [True]
    assert pg_target.query("SELECT srid, auth_name FROM public.spatial_ref_sys WHERE srid IN (2000, 900914) "
                           "ORDER BY 1", target_db) == [(2000, "EPSG"), (900914, "pgferry")]
    toasted = pg_target.query("SELECT count(*) FROM app.places WHERE length(photo) = 49152", target_db)
    assert toasted == [(12,)]

    # a retry of structure finds everything there; every lane again (cleared, with finalize after it, which
    # removes the lanes' bookkeeping again) deletes only the filtered rows of spatial_ref_sys, never the
    # extension's own: still exact, and validate still passes
    assert structure.structure(params, state)["skipped"] is True
    planned = plan_lanes.plan_lanes(params, state)
    copies = [copy_lane.copy_lane(params, lane) for lane in planned["lanes"]]
    finalize.finalize(params, state, planned["post_data"])
    again = validate.validate(params, state, copies)
    assert again["ok"], again["problems"]
    versus = compare_databases(pg_target.dsn(baseline), pg_target.dsn(target_db), pg_bindir(), schema=False)
    assert [str(d) for d in versus.differences] == []

    # validate compares the filtered rows: a lost user SRID is named, a changed standard row is not its business
    pg_target.execute("UPDATE public.spatial_ref_sys SET auth_name = 'edited' WHERE srid = 2001", dbname=target_db)
    assert validate.validate(params, state, copies)["ok"]
    pg_target.execute("DELETE FROM public.spatial_ref_sys WHERE srid = 900914", dbname=target_db)
    with pytest.raises(validate.ValidationFailed, match=r"public\.spatial_ref_sys"):
        validate.validate(params, state, copies)


def test_a_schema_selection_creates_the_extensions_it_uses(airflow_db, pg_source, pg_target, extensions_db,
                                                           target_db, baseline, connections):
    """objects: [app]: pg_dump dumps no CREATE EXTENSION and not the schema ext; pgferry creates both,
    as the source has them, and the configuration tables' rows (the topology's schema city_topo is not
    chosen: its tables and sequences are all that differs from the whole-database baseline)."""
    params = {**connections(extensions_db), "parallelism": 2, "objects": ["app"]}
    dr, states = run_dag(load_dag("postgres_logical_migration"), params)
    assert dr.state == "success", {k: v for k, v in states.items() if v != "success"}
    assert xcom_value(dr, "validate")["ok"] is True
    # every extension app uses (unaccent is used by no object of app: only by the INSERT that filled it)
    used = {k: v for k, v in EXTENSIONS.items() if k != "unaccent"}
    assert {r[0]: r[1] for r in pg_target.query(INSTALLED, target_db)} == used
    # schema app and every row equal the baseline's
    app = schema_lines(pg_target, target_db, "--schema=app")
    assert app == schema_lines(pg_target, baseline, "--schema=app")
    versus = compare_databases(pg_target.dsn(baseline), pg_target.dsn(target_db), pg_bindir(), schema=False)
    assert sorted((d.kind, d.name, d.detail) for d in versus.differences) == sorted(
        [("table", f"city_topo.{t}", "missing in target") for t in ("edge_data", "face", "node", "relation")]
        + [("sequence", f"city_topo.{s}", "missing in target")
           for s in ("edge_data_edge_id_seq", "face_face_id_seq", "layer_id_seq", "node_node_id_seq", "topogeo_s_1")])


@pytest.fixture
def hstore_db(pg_source):
    """A source whose hstore claims a version (catalog edit) the target server does not offer."""
    name = unique_db("ext_version")
    pg_source.recreate_db(name)
    with pg_source.connect(name) as conn:
        conn.execute("CREATE SCHEMA ext; CREATE EXTENSION hstore SCHEMA ext; "
                     "CREATE TABLE public.t (id int PRIMARY KEY, h ext.hstore); "
                     "INSERT INTO public.t SELECT i, ext.hstore('k', i::text) FROM generate_series(1, 20) i")
    yield name
    pg_source.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _params(pg_source, pg_target, source_db, target_db):
    airflow_env.postgres_connection("pgferry_source", pg_source.port, source_db)
    airflow_env.postgres_connection("pgferry_target", pg_target.port, target_db)
    return {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target", "parallelism": 1}


def test_precheck_refuses_an_extension_version_the_target_lacks(airflow_db, pg_source, pg_target, hstore_db,
                                                                 target_db, untouched):
    pg_source.execute("UPDATE pg_extension SET extversion = '9.9' WHERE extname = 'hstore'", hstore_db)
    with pytest.raises(PrecheckFailed) as e:
        precheck.precheck(_params(pg_source, pg_target, hstore_db, target_db))
    text = str(e.value)
    assert "extension hstore version 9.9" in text and "in schema ext" in text
    assert "it offers 1.4, 1.5, 1.6, 1.7, 1.8" in text
    assert pg_target.query("SELECT count(*) FROM pg_extension WHERE extname = 'hstore'", target_db) == [(0,)]
    # an extension the target server has no package of at all (a renamed one: catalog edit on the source)
    pg_source.execute("UPDATE pg_extension SET extname = 'pgferry_absent' WHERE extname = 'hstore'", hstore_db)
    with pytest.raises(PrecheckFailed, match=r"extension pgferry_absent version 9\.9 \(the source's, in schema ext\) "
                                             r"cannot be created on the target: it offers none"):
        precheck.precheck(_params(pg_source, pg_target, hstore_db, target_db))


def test_a_version_the_target_lacks_is_replaced_by_a_newer_one_and_copies_in_text(
        airflow_db, pg_source, pg_target, hstore_db, target_db, caplog):
    pg_source.execute("UPDATE pg_extension SET extversion = '1.3' WHERE extname = 'hstore'", hstore_db)
    params = _params(pg_source, pg_target, hstore_db, target_db)
    state = precheck.precheck(params)
    assert [w["message"] for w in state["warnings"] if "1.3" in w["message"]] == [
        "extension hstore: the source has version 1.3, which the target does not offer; version 1.8 will be "
        "created instead"]
    assert structure.structure(params, state)["skipped"] is False
    assert "extension hstore is created in version 1.8 (the source has 1.3" in caplog.text
    assert pg_target.query(INSTALLED, target_db) == [("hstore", "ext", "1.8")]
    assert structure.structure(params, state)["skipped"] is True   # a retry: idempotent
    planned = plan_lanes.plan_lanes(params, state)
    [unit] = [u for lane in planned["lanes"] for u in lane]
    assert unit["binary"] is False   # not one version on both sides
    assert "public.t copies in text format: extension(s) hstore not in one version on both sides" in caplog.text
    copy_lane.copy_lane(params, planned["lanes"][0])
    assert pg_target.query("SELECT count(*), min(ext.fetchval(h, 'k')) FROM public.t", target_db) == [(20, "1")]


def test_the_catalog_names_the_extension_of_a_column_through_a_domain_but_not_an_array(pg_source, extensions_db):
    with pg_source.connect(extensions_db) as conn:
        cols = {(c["table_oid"], c["name"]): c for c in fetch(conn, "list_columns")}
        oid = lambda t: conn.execute("SELECT %s::regclass::oid::bigint", [t]).fetchone()[0]  # noqa: E731
        places, routes = oid("app.places"), oid("app.routes")
        text_only = tables_without_binary_io(conn)
    names = ("name", "contact", "tags", "path", "geom", "area", "note")
    assert {n: cols[(places, n)]["type_extension"] for n in names} == {
        "name": "citext", "contact": "citext", "tags": "hstore", "path": "ltree", "geom": "postgis", "area": "postgis",
        "note": None}
    assert [cols[(routes, n)]["type_extension"] for n in ("stops", "labels", "line")] == [None, None, "postgis"]
    assert places not in text_only   # every type in it has binary send/receive


def test_precheck_refuses_an_extension_the_target_has_in_another_schema(airflow_db, pg_source, pg_target, hstore_db,
                                                                       target_db):
    pg_target.execute("CREATE EXTENSION hstore", dbname=target_db)   # in public; the source has it in ext
    before = pg_target.query(INSTALLED, target_db)
    with pytest.raises(PrecheckFailed) as e:
        precheck.precheck(_params(pg_source, pg_target, hstore_db, target_db))
    assert "extension hstore is installed on the target in schema public, but the migrated objects use it in " \
           "schema ext" in str(e.value)
    assert "ALTER EXTENSION hstore SET SCHEMA ext" in str(e.value)
    assert pg_target.query(INSTALLED, target_db) == before
