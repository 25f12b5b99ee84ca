-- A table's constraint by name.  psql: \set schema app \set table orders \set name orders_pkey
SELECT k.oid::bigint AS oid FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relname = :'table' AND k.conname = :'name';
