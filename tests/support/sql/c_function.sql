-- c_function.sql: one LANGUAGE C function in schema app, for tests of how pgferry treats
-- C-language functions (they only restore if the same shared library exists on the target).
--
-- Load as a superuser (creating C functions requires superuser) after awkward.sql, or into any
-- database: it creates schema app if it is missing. No CREATE EXTENSION: the function points
-- straight at the `levenshtein` symbol of fuzzystrmatch.so, which Debian's postgresql-15 package
-- ships in $libdir (/usr/lib/postgresql/15/lib); the object is NOT part of any extension, so
-- pg_dump dumps it as a plain FUNCTION with  AS '$libdir/fuzzystrmatch', 'levenshtein'.
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS app;

CREATE FUNCTION app.c_levenshtein(text, text) RETURNS integer
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS '$libdir/fuzzystrmatch', 'levenshtein';

COMMENT ON FUNCTION app.c_levenshtein(text, text) IS
    'LANGUAGE C function bound directly to fuzzystrmatch.so (no extension)';
