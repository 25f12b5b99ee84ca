-- Configuration tables of the given extensions (pg_extension_config_dump): pg_dump dumps their rows that
-- match the filter condition ('' for all rows, else a WHERE clause), the extension's own rows being
-- created by CREATE EXTENSION.  psql: \set names '{postgis}'
SELECT e.extname AS extension,
       c.oid::bigint AS oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relkind::text AS relkind,
       coalesce(e.extcondition[cfg.i], '') AS condition,
       CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid) ELSE 0 END AS bytes,
       greatest(c.reltuples, 0)::bigint AS est_rows,
       pg_get_userbyid(c.relowner) AS owner
FROM pg_extension e
CROSS JOIN LATERAL unnest(e.extconfig) WITH ORDINALITY AS cfg(table_oid, i)
JOIN pg_class c ON c.oid = cfg.table_oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE e.extname = ANY(:'names'::text[])
ORDER BY 1, 3, 4;
