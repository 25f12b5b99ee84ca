-- The main fork's size of one relation by schema and name, in bytes (0: it has no pages).  psql: \set schema app \set name orders
SELECT pg_relation_size(c.oid)::bigint AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relname = :'name';
