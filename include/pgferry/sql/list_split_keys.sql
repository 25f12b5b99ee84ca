-- Single-column integer primary keys (or NOT NULL unique keys) by which big tables are cut into ranges.
SELECT i.indrelid::bigint AS table_oid, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       i.indisprimary AS is_primary
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
  AND array_length(string_to_array(i.indkey::text, ' '), 1) = 1
  AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
  AND a.attnotnull
ORDER BY 1, i.indisprimary DESC;
