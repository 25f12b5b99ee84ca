-- Tables, partitions, views, materialized views, sequences and foreign tables in user schemas,
-- with the size and row estimate used to plan the load. Extension members are left out.
-- row_to_json(c) reads columns that only newer servers have (relispartition) without failing on old ones.
SELECT c.oid::bigint AS oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relkind::text AS relkind,
       coalesce((row_to_json(c) ->> 'relispartition')::boolean, false) AS is_partition,
       (SELECT i.inhparent::bigint FROM pg_inherits i WHERE i.inhrelid = c.oid LIMIT 1) AS parent_oid,
       CASE WHEN c.relkind IN ('r', 'p', 'm', 'S') THEN pg_table_size(c.oid) ELSE 0 END AS bytes,
       greatest(c.reltuples, 0)::bigint AS est_rows,
       c.relpersistence::text AS persistence,
       pg_get_userbyid(c.relowner) AS owner,
       c.relrowsecurity AS row_security,
       coalesce((row_to_json(c) ->> 'relispopulated')::boolean, true) AS populated
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname;
