-- Functions, procedures and aggregates in user schemas (not extension members), with their language
-- and kind (as list_dumped_objects.sql lists them). row_to_json(p) reads prokind (11+) or proisagg (older).
SELECT p.oid::bigint AS oid, n.nspname AS schema, p.proname AS name,
       pg_get_function_identity_arguments(p.oid) AS args,
       l.lanname AS language,
       pg_get_userbyid(p.proowner) AS owner,
       coalesce(p.prosrc, '') AS body,
       CASE coalesce(row_to_json(p) ->> 'prokind',
                     CASE WHEN (row_to_json(p) ->> 'proisagg')::boolean THEN 'a' ELSE 'f' END)
            WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END AS kind
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 2, 3, 4;
