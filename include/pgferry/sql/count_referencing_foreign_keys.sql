-- Foreign keys that reference a table (TRUNCATE refuses such a table).  psql: \set schema app \set table orders
SELECT count(*) AS n FROM pg_constraint k
WHERE k.contype = 'f'
  AND k.confrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = :'schema' AND c.relname = :'table');
