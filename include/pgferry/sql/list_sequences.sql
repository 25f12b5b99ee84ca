-- Sequences with the table column that owns them (serial, identity), if any. Extension members are left
-- out, as in list_relations (postgis_topology's topology.topology_id_seq: its extension creates it).
SELECT s.oid::bigint AS oid, n.nspname AS schema, s.relname AS name,
       d.refobjid::bigint AS owner_table_oid,
       a.attname AS owner_column
FROM pg_class s
JOIN pg_namespace n ON n.oid = s.relnamespace
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE s.relkind = 'S'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = s.oid AND e.deptype = 'e')
ORDER BY 2, 3;
