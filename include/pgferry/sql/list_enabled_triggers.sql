-- Triggers that fire, by table; `internal` ones are foreign keys' (RI) triggers.
SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name, t.tgisinternal AS internal
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE t.tgenabled <> 'D'
ORDER BY 1, 2, 3;
