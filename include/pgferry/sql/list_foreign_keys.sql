-- Foreign keys: the referencing table, the referenced table, and the columns on both sides.
SELECT con.oid::bigint AS oid, con.conname AS name,
       con.conrelid::bigint AS table_oid, con.confrelid::bigint AS referenced_oid,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) k JOIN pg_attribute a
             ON a.attrelid = con.conrelid AND a.attnum = k) AS columns,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) k JOIN pg_attribute a
             ON a.attrelid = con.confrelid AND a.attnum = k) AS referenced_columns
FROM pg_constraint con
JOIN pg_namespace n ON n.oid = con.connamespace
WHERE con.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1;
