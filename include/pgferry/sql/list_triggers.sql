-- User triggers (not internal ones of foreign keys) with their table and definition, whose arguments
-- the precheck reads (a trigger function may take column names as text: tsvector_update_trigger).
SELECT t.oid::bigint AS oid, t.tgname AS name, t.tgrelid::bigint AS table_oid, t.tgnargs AS nargs,
       pg_get_triggerdef(t.oid) AS definition
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 3, 2;
