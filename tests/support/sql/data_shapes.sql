-- Every table shape the data path must copy exactly (issue 11): tables without copyable columns, dropped
-- columns, types without binary send/receive, OID-valued types, extension types, TOAST and big rows,
-- constraints that make a retried load fail if it is not idempotent, publications, a shell operator.
-- Superuser, PostgreSQL 15+, deterministic. Loaded into an empty database.
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE EXTENSION IF NOT EXISTS cube;
CREATE SCHEMA shapes;
ALTER SCHEMA public OWNER TO postgres;   -- as Pagila does: the target's public must be given the same owner
SET search_path = shapes, public;
CREATE TYPE shapes.mood AS ENUM ('sad', 'ok', 'happy');
CREATE FUNCTION shapes.add_one(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';

-- no columns left at all (the row count is the content), and a column-less table that never had rows
CREATE TABLE shapes.no_columns (gone int);
INSERT INTO shapes.no_columns SELECT g FROM generate_series(1, 7) g;
ALTER TABLE shapes.no_columns DROP COLUMN gone;
CREATE TABLE shapes.no_columns_empty ();
-- only a generated column: nothing for COPY to name, the target computes it for each of the 5 rows
CREATE TABLE shapes.only_generated (g int GENERATED ALWAYS AS (42) STORED);
INSERT INTO shapes.only_generated SELECT FROM generate_series(1, 5);
-- dropped columns between and after kept ones
CREATE TABLE shapes.dropped_between (a int, b text, c int, d text, e int);
INSERT INTO shapes.dropped_between SELECT g, 'b' || g, g * 2, 'd' || g, g * 3 FROM generate_series(1, 100) g;
ALTER TABLE shapes.dropped_between DROP COLUMN b, DROP COLUMN e;

-- built-in types without binary send/receive (aclitem), and types whose binary form is an OID
CREATE TABLE shapes.no_binary_io (id int PRIMARY KEY, acl aclitem, acls aclitem[], rel regclass, typ regtype,
                                  fn regprocedure);
INSERT INTO shapes.no_binary_io VALUES
  (1, 'postgres=arwdDxt/postgres', '{postgres=r/postgres,=r/postgres}', 'shapes.dropped_between', 'shapes.mood',
   'shapes.add_one(integer)'),
  (2, NULL, '{}', 'pg_class', 'int4[]', 'abs(integer)');
-- a user type declared without send/receive, alone, in an array and under a domain
CREATE TYPE shapes.textish;
CREATE FUNCTION shapes.textish_in(cstring) RETURNS shapes.textish LANGUAGE internal IMMUTABLE STRICT AS 'textin';
CREATE FUNCTION shapes.textish_out(shapes.textish) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'textout';
CREATE TYPE shapes.textish (INPUT = shapes.textish_in, OUTPUT = shapes.textish_out, LIKE = text);
CREATE DOMAIN shapes.textish_dom AS shapes.textish;
CREATE TABLE shapes.user_type_no_binary (id int PRIMARY KEY, v shapes.textish, vs shapes.textish[],
                                         d shapes.textish_dom);
INSERT INTO shapes.user_type_no_binary SELECT g, ('v' || g)::shapes.textish,
  ARRAY[('x' || g)::shapes.textish, NULL], ('d' || g)::shapes.textish_dom FROM generate_series(1, 50) g;

-- built-in types of every family, in binary (same major version on both sides)
CREATE TABLE shapes.builtin_types (
  id int PRIMARY KEY, b bool, i2 int2, i8 int8, n numeric, r4 real, f8 float8, m money, c char(3), vc varchar(9),
  t text, by bytea, d date, tm time, tmtz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid,
  j json, jb jsonb, x xml, bt bit(4), vb varbit, inet_ inet, cidr_ cidr, mac macaddr, mac8 macaddr8,
  p point, l line, ls lseg, bx box, pa path, pg polygon, ci circle, tv tsvector, tq tsquery, lsn pg_lsn,
  snap pg_snapshot, r int4range, mr int4multirange, tr tstzrange, ia int[], ta text[][], oid_ oid,
  mood shapes.mood);
INSERT INTO shapes.builtin_types
SELECT g, g % 2 = 0, g, g * 1000000000000, CASE WHEN g = 1 THEN 'NaN' ELSE g / 7.0 END,
       CASE WHEN g = 2 THEN '-Infinity' ELSE g / 3.0 END, CASE WHEN g = 3 THEN '-0' ELSE g * 1.5e300 END,
       g * 1.25, 'ab', 'v' || g, E'tab\there\nnew "line" \\ back', decode(md5(g::text), 'hex'),
       '2024-02-29'::date + g, '12:34:56.789'::time, '12:00:00+05:30', '2000-01-01 00:00:00'::timestamp + g * interval '1 h',
       CASE WHEN g = 4 THEN 'infinity'::timestamptz ELSE '2020-01-01 00:00:00+00'::timestamptz + g * interval '1 d' END,
       make_interval(0, g, 0, g, g), md5(g::text)::uuid, json_build_object('k', g, 'n', 1.50),
       jsonb_build_object('k', g, 'arr', jsonb_build_array(1, 'two', NULL)), xmlelement(name x, g),
       B'1010', (g::bit(8))::varbit, ('10.0.0.' || g)::inet, '192.168.0.0/16', '08:00:2b:01:02:03',
       '08:00:2b:01:02:03:04:05', point(g, -g), '{1,2,3}', '[(0,0),(1,1)]', '(0,0),(2,2)', '[(0,0),(1,1),(2,0)]',
       '((0,0),(1,1),(1,0))', '<(0,0),2>', to_tsvector('simple', 'the quick brown fox ' || g),
       to_tsquery('simple', 'quick & fox'), ('16/' || to_hex(g))::pg_lsn, '10:20:10,14,15', int4range(g, g + 10),
       int4multirange(int4range(1, 3), int4range(g + 5, g + 9)), tstzrange('2024-01-01', NULL),
       ARRAY[g, NULL, -g], ARRAY[['a', NULL], ['c', 'd']], g::oid, (ARRAY['sad', 'ok', 'happy'])[g % 3 + 1]::shapes.mood
FROM generate_series(1, 200) g;
-- extension types (hstore has binary send/receive, cube has none), an array of a user enum (its binary
-- form holds the enum's OID)
CREATE TABLE shapes.extension_types (id int PRIMARY KEY, hs hstore, cu cube, moods shapes.mood[]);
INSERT INTO shapes.extension_types SELECT g, hstore('k' || g, 'v "quoted"'), cube(ARRAY[g, g + 0.5]::float8[]),
  '{happy,NULL,sad}'
FROM generate_series(1, 50) g;

-- TOAST (compressible and not) and one big row
CREATE TABLE shapes.toasted (id int PRIMARY KEY, t text, b bytea);
INSERT INTO shapes.toasted SELECT g, repeat('toast ' || g, 20000),
  (SELECT string_agg(decode(md5(g::text || i::text), 'hex'), ''::bytea) FROM generate_series(1, 4000) i)
FROM generate_series(1, 20) g;
CREATE TABLE shapes.big_row (id int PRIMARY KEY, payload bytea);
INSERT INTO shapes.big_row SELECT 1, (SELECT string_agg(decode(md5(i::text), 'hex'), ''::bytea)
                                     FROM generate_series(1, 1250000) i);   -- 20 MB, incompressible

-- constraints that a retried load meets once the lane has built them
CREATE TABLE shapes.not_valid_check (id int PRIMARY KEY, v int);
INSERT INTO shapes.not_valid_check SELECT g, g - 5 FROM generate_series(1, 20) g;   -- 5 rows break the check
ALTER TABLE shapes.not_valid_check ADD CONSTRAINT not_valid_check_positive CHECK (v > 0) NOT VALID;
COMMENT ON CONSTRAINT not_valid_check_positive ON shapes.not_valid_check IS 'old rows predate it';
CREATE TABLE shapes.nv_parent (id int, v int);
CREATE TABLE shapes.nv_child (extra text) INHERITS (shapes.nv_parent);
INSERT INTO shapes.nv_parent VALUES (1, -1), (2, 2);
INSERT INTO shapes.nv_child VALUES (3, -3, 'x'), (4, 4, 'y');
ALTER TABLE shapes.nv_parent ADD CONSTRAINT nv_parent_v_check CHECK (v > 0) NOT VALID;   -- inherited by nv_child
ALTER TABLE shapes.nv_child ADD CONSTRAINT nv_child_extra_check CHECK (extra = 'y') NOT VALID;
CREATE DOMAIN shapes.small_int AS int;
CREATE TABLE shapes.domain_not_valid (id int PRIMARY KEY, v shapes.small_int, vs shapes.small_int[]);
INSERT INTO shapes.domain_not_valid SELECT g, g * 10, ARRAY[g * 10] FROM generate_series(1, 20) g;   -- 10 break it
ALTER DOMAIN shapes.small_int ADD CONSTRAINT small_int_below_100 CHECK (VALUE < 100) NOT VALID;
COMMENT ON CONSTRAINT small_int_below_100 ON DOMAIN shapes.small_int IS 'not for the old rows';
CREATE TABLE shapes.exclusion (id int PRIMARY KEY, during tsrange, EXCLUDE USING gist (during WITH &&));
INSERT INTO shapes.exclusion SELECT g, tsrange('2024-01-01'::timestamp + g * interval '1 h',
                                               '2024-01-01'::timestamp + (g + 1) * interval '1 h') FROM generate_series(1, 50) g;
CREATE TABLE shapes.deferrable (id int, ref int, CONSTRAINT deferrable_pk PRIMARY KEY (id) DEFERRABLE INITIALLY DEFERRED,
                                CONSTRAINT deferrable_ref UNIQUE (ref) DEFERRABLE);
INSERT INTO shapes.deferrable SELECT g, g FROM generate_series(1, 30) g;
CREATE TABLE shapes.referencing (id int PRIMARY KEY,
                                 exclusion_id int REFERENCES shapes.exclusion (id) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO shapes.referencing SELECT g, g FROM generate_series(1, 30) g;
CREATE TABLE shapes.parted (id int, k int, CHECK (k >= 0), PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE shapes.parted_low PARTITION OF shapes.parted FOR VALUES FROM (0) TO (50);
CREATE TABLE shapes.parted_high PARTITION OF shapes.parted FOR VALUES FROM (50) TO (MAXVALUE);
INSERT INTO shapes.parted SELECT g, g % 100 FROM generate_series(1, 400) g;
ALTER TABLE shapes.parted ADD CONSTRAINT parted_k_small CHECK (k < 90) NOT VALID;   -- rows 90..99 break it

-- publications (database-level: they come with the whole database)
CREATE PUBLICATION shapes_all_builtin FOR TABLE shapes.builtin_types, shapes.toasted (id, t) WHERE (id > 3);
CREATE PUBLICATION shapes_schema FOR TABLES IN SCHEMA shapes WITH (publish = 'insert');
COMMENT ON PUBLICATION shapes_schema IS 'every table of shapes';

-- a shell operator: named as a commutator, never defined, its operator dropped. pg_dump never dumps it
CREATE OPERATOR shapes.<<< (LEFTARG = int, RIGHTARG = int, FUNCTION = int4lt, COMMUTATOR = OPERATOR(shapes.>>>));
DROP OPERATOR shapes.<<< (int, int);
ANALYZE;
