-- NOT VALID check constraints of the domains one table's columns use (directly, through a domain over a
-- domain, or as an array's element), with their definitions and comments. pg_dump restores such a
-- constraint after the data; a load retried after it exists would meet it for rows that break it, so the
-- load sets it aside and adds it back unvalidated (see list_not_valid_checks.sql).
WITH RECURSIVE loaded AS (
  SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = :'schema' AND c.relname = :'table'
), used (type_oid) AS (
  SELECT a.atttypid FROM pg_attribute a JOIN loaded ON a.attrelid = loaded.oid
  WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION
  SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END
  FROM used JOIN pg_type t ON t.oid = used.type_oid
  WHERE t.typtype = 'd' OR (t.typelem <> 0 AND t.typlen = -1)
)
SELECT n.nspname AS schema, t.typname AS domain, con.conname AS name,
       pg_get_constraintdef(con.oid) AS definition, obj_description(con.oid, 'pg_constraint') AS comment
FROM used
JOIN pg_type t ON t.oid = used.type_oid AND t.typtype = 'd'
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_constraint con ON con.contypid = t.oid AND con.contype = 'c' AND NOT con.convalidated
ORDER BY 1, 2, 3;
