-- Columns of user tables, in order: type (with its kind and a domain's base type, which decide whether
-- binary COPY can carry it), generated and identity markers. row_to_json(a) keeps this runnable on
-- servers without attgenerated/attidentity. type_extension: the extension whose base type the column holds
-- (directly or as a domain's base; not inside an array, whose binary form carries the element's OID).
SELECT a.attrelid::bigint AS table_oid,
       a.attnum AS num,
       a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type,
       a.atttypid::bigint AS type_oid,
       t.typtype::text AS type_kind,
       t.typbasetype::bigint AS base_type_oid,
       coalesce(row_to_json(a) ->> 'attgenerated', '') AS generated,
       coalesce(row_to_json(a) ->> 'attidentity', '') AS identity,
       a.attnotnull AS not_null,
       (SELECT e.extname FROM pg_type b
        JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = b.oid AND d.deptype = 'e'
        JOIN pg_extension e ON e.oid = d.refobjid
        WHERE b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END AND b.typtype = 'b'
          AND NOT (b.typelem <> 0 AND b.typlen = -1)) AS type_extension
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
ORDER BY a.attrelid, a.attnum;
