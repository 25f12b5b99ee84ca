-- Tables whose replica identity is one integer column (the primary key, or the index REPLICA IDENTITY USING
-- INDEX names): the pre-validation buckets their rows by it, as the apply sees it in every change.
-- psql: \set oids '{16384,16390}'
SELECT c.oid::bigint AS table_oid, a.attname AS key_column, c.reltuples::bigint AS rows_estimate
FROM pg_class c
JOIN pg_index i ON i.indrelid = c.oid
 AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
WHERE c.oid = ANY(:'oids'::bigint[]::oid[]) AND i.indnatts = 1
  AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
ORDER BY 1;
