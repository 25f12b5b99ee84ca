-- Which relation (view, materialized view, index, constraint, trigger, policy) uses which table column:
-- pg_depend read through pg_rewrite, pg_class (indexes), pg_constraint, pg_trigger, pg_policy.
-- column_num = 0 means the whole relation. dep_kind uses the words of list_dumped_objects.sql.
SELECT DISTINCT dep_kind, dep_oid, dep_name, dep_table_oid, ref_table_oid, column_num FROM (
  SELECT 'view' AS dep_kind, r.ev_class::bigint AS dep_oid, v.relname::text AS dep_name,
         r.ev_class::bigint AS dep_table_oid, d.refobjid::bigint AS ref_table_oid, d.refobjsubid AS column_num
  FROM pg_depend d JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
  JOIN pg_class v ON v.oid = r.ev_class
  WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
  UNION ALL
  SELECT 'index', i.indexrelid::bigint, ic.relname::text, i.indrelid::bigint, d.refobjid::bigint, d.refobjsubid
  FROM pg_depend d JOIN pg_index i ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
  JOIN pg_class ic ON ic.oid = i.indexrelid
  WHERE d.refclassid = 'pg_class'::regclass
  UNION ALL
  SELECT CASE c.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
              WHEN 'c' THEN 'check constraint' WHEN 'f' THEN 'foreign key' WHEN 'x' THEN 'exclusion constraint'
              ELSE 'constraint ' || c.contype::text END, c.oid::bigint, c.conname::text, c.conrelid::bigint, d.refobjid::bigint, d.refobjsubid
  FROM pg_depend d JOIN pg_constraint c ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid
  WHERE d.refclassid = 'pg_class'::regclass AND c.conrelid <> 0
  UNION ALL
  SELECT 'trigger', t.oid::bigint, t.tgname::text, t.tgrelid::bigint, d.refobjid::bigint, d.refobjsubid
  FROM pg_depend d JOIN pg_trigger t ON d.classid = 'pg_trigger'::regclass AND d.objid = t.oid
  WHERE d.refclassid = 'pg_class'::regclass AND NOT t.tgisinternal
  UNION ALL
  SELECT 'policy', p.oid::bigint, p.polname::text, p.polrelid::bigint, d.refobjid::bigint, d.refobjsubid
  FROM pg_depend d JOIN pg_policy p ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid
  WHERE d.refclassid = 'pg_class'::regclass
) deps
ORDER BY 1, 2, 5, 6;
