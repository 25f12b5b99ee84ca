-- Tables with a column whose type cannot travel in binary COPY: the type, or a type inside it (an
-- array's element, a domain's base, a range's subtype, a composite's attributes, recursively), has no
-- binary send or receive function (aclitem, gtsvector, a user type declared without them), or its binary
-- form is an OID (regclass, regtype, ...: another object, or none, in another database). Such a table is
-- copied in text format; the others may go in binary. Dropped and generated columns do not count.
WITH RECURSIVE column_types AS (
  SELECT a.attrelid AS table_oid, a.atttypid AS type_oid
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
    AND coalesce(row_to_json(a) ->> 'attgenerated', '') = ''
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
), reached (table_oid, type_oid) AS (
  SELECT table_oid, type_oid FROM column_types
  UNION
  SELECT r.table_oid, inner_type.oid
  FROM reached r
  JOIN pg_type t ON t.oid = r.type_oid
  JOIN LATERAL (
    SELECT t.typelem AS oid WHERE t.typelem <> 0 AND t.typlen = -1          -- array element
    UNION ALL SELECT t.typbasetype WHERE t.typtype = 'd'                     -- domain base
    UNION ALL SELECT rg.rngsubtype FROM pg_range rg WHERE rg.rngtypid = t.oid  -- range subtype
    UNION ALL SELECT rg.rngtypid FROM pg_range rg WHERE rg.rngmultitypid = t.oid  -- multirange
    UNION ALL SELECT a.atttypid FROM pg_attribute a                          -- composite attributes
      WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
  ) inner_type ON true
)
SELECT r.table_oid::bigint AS table_oid,
       string_agg(DISTINCT format_type(t.oid, NULL), ', ') AS types
FROM reached r JOIN pg_type t ON t.oid = r.type_oid
WHERE t.typsend::oid = 0 OR t.typreceive::oid = 0
   -- the reg* types send an OID, which names another object (or none) in another database
   OR (t.typnamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'pg_catalog')
       AND t.typname IN ('regproc', 'regprocedure', 'regoper', 'regoperator', 'regclass', 'regtype', 'regconfig',
                         'regdictionary', 'regnamespace', 'regrole', 'regcollation'))
GROUP BY r.table_oid
ORDER BY 1;
