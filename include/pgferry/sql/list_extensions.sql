-- Extensions of the database as pg_dump sees them: schema, version, whether pg_dump dumps it (the built-in
-- ones, plpgsql, have OIDs below FirstNormalObjectId and are not dumped) and the extensions it requires.
SELECT e.extname AS name,
       n.nspname AS schema,
       e.extversion AS version,
       e.oid >= 16384 AS dumped,
       coalesce((SELECT array_agg(r.extname::text ORDER BY r.extname)
                 FROM pg_depend d JOIN pg_extension r ON r.oid = d.refobjid
                 WHERE d.classid = 'pg_extension'::regclass AND d.objid = e.oid
                   AND d.refclassid = 'pg_extension'::regclass), '{}') AS requires
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY e.oid;
