-- Columns of user tables, in order: type (with its kind and a domain's base type, which decide whether
-- binary COPY can carry it), generated and identity markers. row_to_json(a) keeps this runnable on
-- servers without attgenerated/attidentity.
SELECT a.attrelid::bigint AS table_oid,
       a.attnum AS num,
       a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type,
       a.atttypid::bigint AS type_oid,
       t.typtype::text AS type_kind,
       t.typbasetype::bigint AS base_type_oid,
       coalesce(row_to_json(a) ->> 'attgenerated', '') AS generated,
       coalesce(row_to_json(a) ->> 'attidentity', '') AS identity,
       a.attnotnull AS not_null
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
ORDER BY a.attrelid, a.attnum;
