-- Extensions the given relations and the objects of the given schemas use through pg_depend: a column's
-- type (or an array of it), an index's operator class, a view's or a default's function, a domain's base
-- type, a function's argument type ...  psql: \set oids '{16384}' \set schemas '{app}'
WITH used (classid, objid) AS (
  SELECT 'pg_class'::regclass::oid, c.oid FROM pg_class c WHERE c.oid = ANY(:'oids'::bigint[]::oid[])
  UNION ALL SELECT 'pg_class'::regclass::oid, i.indexrelid FROM pg_index i WHERE i.indrelid = ANY(:'oids'::bigint[]::oid[])
  UNION ALL SELECT 'pg_constraint'::regclass::oid, c.oid FROM pg_constraint c WHERE c.conrelid = ANY(:'oids'::bigint[]::oid[])
  UNION ALL SELECT 'pg_attrdef'::regclass::oid, a.oid FROM pg_attrdef a WHERE a.adrelid = ANY(:'oids'::bigint[]::oid[])
  UNION ALL SELECT 'pg_rewrite'::regclass::oid, r.oid FROM pg_rewrite r WHERE r.ev_class = ANY(:'oids'::bigint[]::oid[])
  UNION ALL SELECT 'pg_trigger'::regclass::oid, t.oid FROM pg_trigger t WHERE t.tgrelid = ANY(:'oids'::bigint[]::oid[])
  UNION ALL SELECT 'pg_policy'::regclass::oid, p.oid FROM pg_policy p WHERE p.polrelid = ANY(:'oids'::bigint[]::oid[])
  UNION ALL SELECT 'pg_proc'::regclass::oid, p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = ANY(:'schemas'::text[])
  UNION ALL SELECT 'pg_type'::regclass::oid, t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = ANY(:'schemas'::text[])
), own AS (   -- an extension's own objects (and the array types of its types) use what it uses: not counted
  SELECT u.* FROM used u WHERE NOT EXISTS (SELECT 1 FROM pg_depend m WHERE m.classid = u.classid
                                           AND m.objid = u.objid AND (m.deptype = 'e' OR
                                               (m.deptype = 'i' AND u.classid = 'pg_type'::regclass::oid)))
), referenced AS (
  -- what they depend on, and the element type of an array among it (array types are not members)
  SELECT d.refclassid, d.refobjid FROM own u JOIN pg_depend d ON d.classid = u.classid AND d.objid = u.objid
  UNION
  SELECT 'pg_type'::regclass::oid, t.typelem FROM own u JOIN pg_depend d ON d.classid = u.classid AND d.objid = u.objid
  JOIN pg_type t ON d.refclassid = 'pg_type'::regclass::oid AND t.oid = d.refobjid AND t.typelem <> 0
)
SELECT DISTINCT e.extname AS extension
FROM referenced r
JOIN pg_depend m ON m.classid = r.refclassid AND m.objid = r.refobjid AND m.deptype = 'e'
JOIN pg_extension e ON e.oid = m.refobjid
ORDER BY 1;
