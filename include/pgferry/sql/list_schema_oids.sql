-- The oids of the given schemas.  psql: \set schemas '{app}'
SELECT oid::bigint AS oid, nspname AS schema FROM pg_namespace WHERE nspname = ANY(:'schemas'::text[]) ORDER BY 2;
