-- Extensions whose types (or arrays of them) the columns of the given relations use.  psql: \set oids '{16384}'
SELECT DISTINCT e.extname AS extension
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid OR t.typarray = a.atttypid
JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid
WHERE a.attrelid = ANY(:'oids'::bigint[]::oid[])
ORDER BY 1;
