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
