-- Extensions whose types the columns of user tables use (they must exist on the target first).
SELECT DISTINCT e.extname AS extension, c.oid::bigint AS table_oid
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type t ON t.oid = a.atttypid OR t.typarray = a.atttypid
JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid
WHERE a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, 2;
