-- Objects by kind, attached to a relation (relation not null) or to a schema (relation null): what
-- pg_dump would restore, so what it never dumps (shell operators, objects of extensions) is not listed.
-- class_oid and oid are the object's catalog row, as pg_dump's table of contents and pg_depend name it.
SELECT kind, schema, relation, class_oid, oid FROM (
  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
              WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' END AS kind,
         n.nspname AS schema, c.relname AS relation, 'pg_class'::regclass::oid::bigint AS class_oid, c.oid::bigint AS oid
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','S','f')
  UNION ALL
  SELECT 'index', n.nspname, t.relname, 'pg_class'::regclass::oid::bigint, i.indexrelid::bigint FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  UNION ALL
  SELECT CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
              WHEN 'c' THEN 'check constraint' WHEN 'f' THEN 'foreign key' WHEN 'x' THEN 'exclusion constraint'
              ELSE 'constraint ' || con.contype::text END, n.nspname, t.relname,
         'pg_constraint'::regclass::oid::bigint, con.oid::bigint
  FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
  UNION ALL
  SELECT 'trigger', n.nspname, t.relname, 'pg_trigger'::regclass::oid::bigint, tg.oid::bigint FROM pg_trigger tg JOIN pg_class t ON t.oid = tg.tgrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  -- a partition's clone of its parent's trigger is no object of its own (internal up to 14, tgparentid from 13)
  WHERE NOT tg.tgisinternal AND coalesce((row_to_json(tg) ->> 'tgparentid')::oid, 0) = 0
  UNION ALL
  SELECT 'rule', n.nspname, t.relname, 'pg_rewrite'::regclass::oid::bigint, r.oid::bigint FROM pg_rewrite r JOIN pg_class t ON t.oid = r.ev_class
  JOIN pg_namespace n ON n.oid = t.relnamespace WHERE r.rulename <> '_RETURN'
  UNION ALL
  SELECT 'policy', n.nspname, t.relname, 'pg_policy'::regclass::oid::bigint, p.oid::bigint FROM pg_policy p JOIN pg_class t ON t.oid = p.polrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  UNION ALL
  SELECT CASE coalesce(row_to_json(p) ->> 'prokind',
                   CASE WHEN (row_to_json(p) ->> 'proisagg')::boolean THEN 'a' ELSE 'f' END) WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END, n.nspname, NULL,
         'pg_proc'::regclass::oid::bigint, p.oid::bigint
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  UNION ALL
  SELECT CASE t.typtype WHEN 'e' THEN 'enum type' WHEN 'd' THEN 'domain' WHEN 'c' THEN 'composite type'
              WHEN 'r' THEN 'range type' ELSE 'type' END, n.nspname, NULL, 'pg_type'::regclass::oid::bigint, t.oid::bigint
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
  UNION ALL
  SELECT 'operator', n.nspname, NULL, 'pg_operator'::regclass::oid::bigint, o.oid::bigint FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
  WHERE o.oprcode::oid <> 0   -- a shell operator (named as another's commutator, never defined) is not dumped
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_operator'::regclass AND d.objid = o.oid AND d.deptype = 'e')
) objects
WHERE schema NOT IN ('pg_catalog', 'information_schema') AND schema !~ '^pg_(toast|temp_)'
ORDER BY 1, 2, 3, 4, 5;
