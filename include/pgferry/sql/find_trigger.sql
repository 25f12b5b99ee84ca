-- A table's trigger by name.  psql: \set schema app \set table orders \set name orders_audit
SELECT t.oid::bigint AS oid FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relname = :'table' AND t.tgname = :'name';
