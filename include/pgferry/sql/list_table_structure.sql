-- The structure of every table in the given schemas, one row per part: the table itself (kind 'table'),
-- its columns (detail: the type), indexes, constraints (NOT NULL constraints left out: PostgreSQL 18 lists
-- them here, older servers do not) and triggers (a partition's clone of its parent's trigger left out, as in
-- list_dumped_objects.sql). Tables of extensions are left out: CREATE EXTENSION makes them.
-- psql: \set schemas '{app,sales}'
WITH tables AS (
  SELECT c.oid, n.nspname AS schema, c.relname AS relation
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = ANY(:'schemas'::text[]) AND c.relkind IN ('r', 'p')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.deptype = 'e')
)
SELECT schema, relation, 'table' AS kind, relation AS name, NULL AS detail FROM tables
UNION ALL
SELECT t.schema, t.relation, 'column', a.attname, format_type(a.atttypid, a.atttypmod)
FROM tables t JOIN pg_attribute a ON a.attrelid = t.oid WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT t.schema, t.relation, 'index', ic.relname, NULL
FROM tables t JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT t.schema, t.relation, 'constraint', con.conname, NULL
FROM tables t JOIN pg_constraint con ON con.conrelid = t.oid WHERE con.contype <> 'n'
UNION ALL
SELECT t.schema, t.relation, 'trigger', tg.tgname, NULL
FROM tables t JOIN pg_trigger tg ON tg.tgrelid = t.oid
WHERE NOT tg.tgisinternal AND coalesce((row_to_json(tg) ->> 'tgparentid')::oid, 0) = 0
ORDER BY 1, 2, 3, 4;
