-- The current user's rights on the given schemas (owned: member of the owning role).  psql: \set schemas '{app}'
SELECT n.nspname AS schema, pg_get_userbyid(n.nspowner) AS owner,
       has_schema_privilege(n.oid, 'USAGE') AS usage, has_schema_privilege(n.oid, 'CREATE') AS "create",
       pg_has_role(n.nspowner, 'USAGE') AS owned
FROM pg_namespace n WHERE n.nspname = ANY(:'schemas'::text[])
ORDER BY 1;
