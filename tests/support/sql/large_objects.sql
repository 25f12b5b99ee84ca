-- A database whose only content is large objects (pgcopydb's `blobs` fixture has the same shape): an
-- empty one, one spanning several copy chunks, one owned by another role with privileges granted (one
-- WITH GRANT OPTION, one to PUBLIC), one with a comment. Needs the role pgferry_lo_owner (cluster-wide:
-- the test creates it on both sides). Deterministic; superuser; PostgreSQL 15+.
SELECT lo_create(1001);
SELECT lo_from_bytea(1002, (SELECT string_agg(decode(md5(i::text), 'hex'), ''::bytea)
                            FROM generate_series(1, 200000) i));   -- 3.2 MB, incompressible
SELECT lo_from_bytea(1003, convert_to('owned by another role', 'UTF8'));
ALTER LARGE OBJECT 1003 OWNER TO pgferry_lo_owner;
GRANT SELECT ON LARGE OBJECT 1003 TO PUBLIC;
GRANT UPDATE ON LARGE OBJECT 1003 TO postgres WITH GRANT OPTION;
SELECT lo_from_bytea(1004, '\x00ff00'::bytea);
COMMENT ON LARGE OBJECT 1004 IS 'a comment, with a ''quote''';
