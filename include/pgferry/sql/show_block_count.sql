-- How many blocks one table's main fork has now (pg_relation_size / block_size): what a cut into block ranges divides.  psql: \set schema app \set name orders
SELECT pg_relation_size(c.oid, 'main') / current_setting('block_size')::bigint AS blocks
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relname = :'name';
