-- Roles that own user schemas, relations and functions, or are granted privileges on relations.
SELECT 'owner' AS how, 'relation' AS on_kind, c.oid::bigint AS oid, pg_get_userbyid(c.relowner) AS role
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'grantee', 'relation', c.oid::bigint, pg_get_userbyid(a.grantee)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
WHERE c.relacl IS NOT NULL AND a.grantee <> 0 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'owner', 'function', p.oid::bigint, pg_get_userbyid(p.proowner)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'owner', 'schema', n.oid::bigint, pg_get_userbyid(n.nspowner)
FROM pg_namespace n WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 1, 2, 3, 4;
