-- c_dependents.sql: objects that depend on C-language functions, loaded after c_function.sql (schema app).
-- app.c_num is a base type whose input and output functions are C functions (bound to a symbol of
-- fuzzystrmatch.so that is never called: no c_num value is ever stored, its column holds NULLs only).
-- What depends on them: the type and its array type, a SQL function and an operator over it, the column
-- app.readings.reading, a view selecting that column, a check constraint calling app.c_levenshtein.
-- What does not: app.readings' other columns, its primary key and rows, the view app.reading_ids.
SET client_min_messages = warning;
CREATE TYPE app.c_num;
CREATE FUNCTION app.c_num_in(cstring) RETURNS app.c_num LANGUAGE c IMMUTABLE STRICT
    AS '$libdir/fuzzystrmatch', 'levenshtein';
CREATE FUNCTION app.c_num_out(app.c_num) RETURNS cstring LANGUAGE c IMMUTABLE STRICT
    AS '$libdir/fuzzystrmatch', 'levenshtein';
CREATE TYPE app.c_num (INPUT = app.c_num_in, OUTPUT = app.c_num_out, LIKE = integer);
COMMENT ON TYPE app.c_num IS 'a type whose I/O functions are written in C';
CREATE FUNCTION app.c_num_eq(app.c_num, app.c_num) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR app.=== (LEFTARG = app.c_num, RIGHTARG = app.c_num, FUNCTION = app.c_num_eq);
CREATE TABLE app.readings (id integer PRIMARY KEY, note text NOT NULL, reading app.c_num,
    CONSTRAINT note_distance CHECK (app.c_levenshtein(note, '') >= 0));
INSERT INTO app.readings (id, note) SELECT i, 'note ' || i FROM generate_series(1, 20) i;
CREATE VIEW app.reading_values AS SELECT id, reading FROM app.readings;
CREATE VIEW app.reading_ids AS SELECT id, note FROM app.readings;
-- A plpgsql function whose body (text: no pg_depend entry) calls a C function.
CREATE FUNCTION app.distance(a text, b text) RETURNS integer LANGUAGE plpgsql
    AS $$ BEGIN RETURN app.c_levenshtein(a, b); END $$;
-- What has comments and grants of its own, each following its object out: a cast, an operator class and
-- its family over app.c_num; comments on the operator, the left-out column and the check constraint
-- written inside CREATE TABLE (neither has a pg_dump entry of its own); a grant on the type and one on
-- the left-out column.
CREATE FUNCTION app.c_num_cmp(app.c_num, app.c_num) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 0';
CREATE OPERATOR FAMILY app.c_num_ops USING btree;
CREATE OPERATOR CLASS app.c_num_ops FOR TYPE app.c_num USING btree FAMILY app.c_num_ops AS
    OPERATOR 3 app.===, FUNCTION 1 app.c_num_cmp(app.c_num, app.c_num);
CREATE CAST (app.c_num AS text) WITH INOUT;
COMMENT ON CAST (app.c_num AS text) IS 'a cast from a type that does not migrate';
COMMENT ON OPERATOR CLASS app.c_num_ops USING btree IS 'an operator class over it';
COMMENT ON OPERATOR FAMILY app.c_num_ops USING btree IS 'and its family';
COMMENT ON OPERATOR app.=== (app.c_num, app.c_num) IS 'an operator over it';
COMMENT ON COLUMN app.readings.reading IS 'a column of it';
COMMENT ON CONSTRAINT note_distance ON app.readings IS 'a check that calls a C function';
GRANT USAGE ON TYPE app.c_num TO PUBLIC;
GRANT SELECT (reading) ON app.readings TO PUBLIC;
-- Not dependent: an SQL function of the same name as the C function, whose comment and grant migrate.
CREATE FUNCTION app.c_levenshtein(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
COMMENT ON FUNCTION app.c_levenshtein(integer) IS 'an overload in SQL: it migrates';
REVOKE EXECUTE ON FUNCTION app.c_levenshtein(integer) FROM PUBLIC;
-- A role that owns only a C function: the target needs it only when that function migrates.
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgferry_c_owner') THEN CREATE ROLE pgferry_c_owner; END IF;
END $$;
ALTER FUNCTION app.c_levenshtein(text, text) OWNER TO pgferry_c_owner;
