-- What already exists on the target: relations, types and functions by schema and name.
SELECT 'relation' AS kind, n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'type', n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'r', 'c') AND t.typrelid = 0 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'function', n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'schema', n.nspname, n.nspname FROM pg_namespace n
ORDER BY 1, 2, 3;
