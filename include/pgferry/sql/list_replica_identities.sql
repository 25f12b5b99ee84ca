-- The replica identity of the given tables (pg_class.relreplident: d default, n nothing, f full, i index),
-- whether they have a primary key, the identity index, persistence (u: unlogged) and whether the current
-- user owns them (CREATE PUBLICATION ... FOR TABLE needs it).  psql: \set oids '{16384,16390}'
SELECT c.oid::bigint AS oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relreplident::text AS identity,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_primary_key,
       (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index,
       c.relpersistence::text AS persistence,
       pg_get_userbyid(c.relowner) AS owner,
       pg_has_role(current_user, c.relowner, 'USAGE') AS owned
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY(:'oids'::bigint[]::oid[])
ORDER BY 2, 3;
