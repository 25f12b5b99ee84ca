-- PostGIS and contrib extensions as users have them (issue 16): several in their own schema `ext`, their
-- types in columns, domains, indexes, an exclusion constraint, defaults, views and a materialized view;
-- PostGIS's configuration table spatial_ref_sys with a user row inside its pg_dump filter and a changed
-- standard row outside it. Needs Debian's postgresql-15-postgis-3 and postgresql-contrib (make extensions-deps).
-- Random bytes (TOASTed bytea) and generated UUIDs: deterministic enough, every comparison reads this source.
CREATE SCHEMA ext;
CREATE EXTENSION postgis;                              -- public, with spatial_ref_sys
CREATE EXTENSION hstore SCHEMA ext;
CREATE EXTENSION citext SCHEMA ext;
CREATE EXTENSION ltree SCHEMA ext;
CREATE EXTENSION pg_trgm SCHEMA ext;
CREATE EXTENSION btree_gist SCHEMA ext;
CREATE EXTENSION pgcrypto SCHEMA ext;
CREATE EXTENSION "uuid-ossp";                          -- public
CREATE EXTENSION unaccent SCHEMA ext;
CREATE EXTENSION postgis_topology;                     -- requires postgis; its own schema topology

-- inside the filter (a user's SRID: dumped by pg_dump) and outside it (a standard row changed: never dumped)
INSERT INTO public.spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text)
VALUES (900914, 'pgferry', 900914, 'LOCAL_CS["pgferry test grid"]', '+proj=longlat +datum=WGS84 +no_defs');
UPDATE public.spatial_ref_sys SET auth_name = 'changed' WHERE srid = 2000;

CREATE SCHEMA app;
CREATE DOMAIN app.email AS ext.citext CHECK (VALUE LIKE '%@%');

CREATE TABLE app.places (
    id bigserial PRIMARY KEY,
    name ext.citext NOT NULL UNIQUE,
    contact app.email,
    tags ext.hstore,
    path ext.ltree,
    note text,
    geom geometry(Point, 4326),
    area geography(Polygon, 4326),
    token uuid NOT NULL DEFAULT public.uuid_generate_v4(),
    digest bytea DEFAULT ext.digest('pgferry', 'sha256'),
    photo bytea
);
CREATE INDEX places_geom ON app.places USING gist (geom);
CREATE INDEX places_area ON app.places USING gist (area);
CREATE INDEX places_note_trgm ON app.places USING gin (note ext.gin_trgm_ops);
CREATE INDEX places_tags ON app.places USING gist (tags ext.gist_hstore_ops);
CREATE INDEX places_path ON app.places USING gist (path ext.gist_ltree_ops);

-- arrays of extension types carry the element type's OID in binary: text COPY
CREATE TABLE app.routes (
    id integer PRIMARY KEY,
    stops ext.ltree[],
    labels ext.hstore[],
    line geometry(LineString, 4326)
);

-- a layer of the topology (AddTopoGeometryColumn, at the end)
CREATE TABLE app.districts (id integer PRIMARY KEY, name text);
INSERT INTO app.districts VALUES (1, 'old town'), (2, 'harbour');

-- an exclusion constraint over a scalar and a range: btree_gist's operator classes
CREATE TABLE app.bookings (
    id serial PRIMARY KEY,
    room integer NOT NULL,
    during tstzrange NOT NULL,
    EXCLUDE USING gist (room WITH =, during WITH &&)
);

INSERT INTO app.places (name, contact, tags, path, note, geom, area, photo)
SELECT 'Place ' || i,
       'owner' || i || '@example.org',
       ext.hstore(ARRAY['kind', 'rank'], ARRAY[CASE WHEN i % 2 = 0 THEN 'park' ELSE 'café' END, i::text]),
       ('top.region' || (i % 7) || '.site' || i)::ext.ltree,
       ext.unaccent('Zürich Straße ' || i),
       ST_SetSRID(ST_MakePoint(8 + i / 1000.0, 47 + i / 2000.0), 4326),
       ST_GeogFromText(format('SRID=4326;POLYGON((%s 47, %s 47, %s 47.01, %s 47))', 8 + i / 1000.0, 8.01 + i / 1000.0,
                              8.01 + i / 1000.0, 8 + i / 1000.0)),
       CASE WHEN i % 50 = 0 THEN (SELECT string_agg(ext.gen_random_bytes(1024), ''::bytea) FROM generate_series(1, 48))
       END
FROM generate_series(1, 600) AS i;

INSERT INTO app.routes
SELECT i, ARRAY[('top.a' || i)::ext.ltree, 'top.b'], ARRAY[ext.hstore('n', i::text)],
       ST_MakeLine(ST_SetSRID(ST_MakePoint(8, 47), 4326), ST_SetSRID(ST_MakePoint(8 + i / 100.0, 47.5), 4326))
FROM generate_series(1, 50) AS i;

INSERT INTO app.bookings (room, during)
SELECT i % 10, tstzrange(timestamptz '2026-01-01 00:00+00' + i * interval '1 day',
                         timestamptz '2026-01-01 00:00+00' + (i + 1) * interval '1 day')
FROM generate_series(1, 100) AS i;

-- views over PostGIS functions
CREATE VIEW app.place_distances AS
SELECT a.id, b.id AS other, ST_Distance(a.geom::geography, b.geom::geography) AS metres
FROM app.places a JOIN app.places b ON b.id = a.id + 1;

CREATE MATERIALIZED VIEW app.place_areas AS
SELECT id, round(ST_Area(area)::numeric, 3) AS m2, ST_AsText(ST_Centroid(geom)) AS centre, ST_SRID(geom) AS srid
FROM app.places;
CREATE UNIQUE INDEX place_areas_id ON app.place_areas (id);
CREATE INDEX place_areas_centre_trgm ON app.place_areas USING gist (centre ext.gist_trgm_ops);

-- a topology: rows in postgis_topology's configuration tables (filter '': every row), a schema of its own
SELECT topology.CreateTopology('city_topo', 4326);
SELECT topology.AddTopoGeometryColumn('city_topo', 'app', 'districts', 'topo', 'POLYGON');

-- postgis_topology does not mark its sequence topology.topology_id_seq as configuration (pg_dump leaves it
-- where CREATE EXTENSION puts it): marked here, as an extension script would with pg_extension_config_dump
-- (a catalog edit: that function runs only inside an extension script), so a configuration sequence is tested
UPDATE pg_extension SET extconfig = extconfig || 'topology.topology_id_seq'::regclass::oid,
                        extcondition = extcondition || ''::text
WHERE extname = 'postgis_topology';
SELECT setval('topology.topology_id_seq', 41);
