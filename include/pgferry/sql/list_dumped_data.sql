-- Every relation whose data pg_dump dumps, read from the catalog alone (validate's list of what must
-- arrive, independent of the plan): tables and partitions, unlogged ones too (relkind 'r'), sequences
-- (their value), and the configuration tables and sequences of extensions (pg_extension_config_dump),
-- with their extension and the filter pg_dump dumps them with (extcondition; '' = every row).
-- Partitioned parents come along for the partition tree only (no rows of their own). Not listed: views,
-- materialized views (refreshed, not dumped), foreign tables, and extension members that are not
-- configuration (CREATE EXTENSION makes them). `columns`: each table's columns, in order, [name, type oid].
WITH config AS (
    SELECT e.extname, cfg.oid, cfg.condition
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS cfg(oid, condition)
)
SELECT c.oid::bigint AS oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relkind::text AS relkind,
       coalesce((row_to_json(c) ->> 'relispartition')::boolean, false) AS is_partition,
       (SELECT i.inhparent::bigint FROM pg_inherits i WHERE i.inhrelid = c.oid LIMIT 1) AS parent_oid,
       cfg.extname AS extension,
       coalesce(cfg.condition, '') AS condition,
       CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid) ELSE 0 END AS bytes,
       owner.refobjid::bigint AS owner_table_oid,
       (SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = owner.refobjid AND a.attnum = owner.refobjsubid) AS owner_column,
       coalesce((SELECT json_agg(json_build_array(a.attname, a.atttypid::bigint) ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind = 'r'),
                '[]'::json) AS columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN config cfg ON cfg.oid = c.oid
LEFT JOIN LATERAL (SELECT d.refobjid, d.refobjsubid FROM pg_depend d
                   WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid
                     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
                   LIMIT 1) owner ON true
WHERE c.relkind IN ('r', 'p', 'S')
  AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND (cfg.oid IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
ORDER BY n.nspname, c.relname;
