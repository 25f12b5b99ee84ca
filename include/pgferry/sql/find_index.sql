-- An index (or any relation) by schema and name.  psql: \set schema app \set name orders_pkey
SELECT c.oid::bigint AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relname = :'name';
