-- What the server offers of the given extensions: every version it can create, its default, and where and
-- in which version the database has it already.  psql: \set names '{postgis}'
SELECT a.name,
       a.default_version,
       coalesce((SELECT array_agg(v.version::text ORDER BY v.version) FROM pg_available_extension_versions v
                 WHERE v.name = a.name), '{}') AS versions,
       e.extversion AS installed_version,
       n.nspname AS installed_schema
FROM pg_available_extensions a
LEFT JOIN pg_extension e ON e.extname = a.name
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE a.name = ANY(:'names'::text[])
ORDER BY 1;
