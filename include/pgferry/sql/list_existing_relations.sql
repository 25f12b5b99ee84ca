-- Relations of any kind in the given schemas.  psql: \set schemas '{app,sales}'
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(:'schemas'::text[])
ORDER BY 1, 2;
