-- Dependencies between user objects (pg_depend, normal/auto/internal), each side folded into the object
-- pg_dump dumps it with: a column default into its column, a domain constraint into its domain, a view's
-- _RETURN rule and a view's or composite type's column into the relation, an operator family member
-- (pg_amop, pg_amproc) into its family. `raw_*` is the catalog row itself (a pg_dump TOC entry's catalog
-- oid and object oid), `obj_*` what it folds into, `ref_*` what it depends on (folded the same way).
-- Objects of extensions and built-in objects (oid < 16384) are left out.
WITH
deps AS (
  SELECT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.refobjsubid, d.deptype
  FROM pg_depend d
  WHERE d.deptype IN ('n', 'a', 'i') AND d.objid >= 16384 AND d.refobjid >= 16384
    AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype = 'e')
),
objects AS (
  SELECT DISTINCT classid, objid, objsubid FROM deps
  UNION SELECT DISTINCT refclassid, refobjid, refobjsubid FROM deps
),
folded AS (
  SELECT o.classid, o.objid, o.objsubid,
         CASE WHEN ad.oid IS NOT NULL THEN 'pg_class'::regclass
              WHEN dc.oid IS NOT NULL THEN 'pg_type'::regclass
              WHEN rw.oid IS NOT NULL THEN 'pg_class'::regclass
              WHEN ao.oid IS NOT NULL OR ap.oid IS NOT NULL THEN 'pg_opfamily'::regclass
              ELSE o.classid END AS f_class,
         CASE WHEN ad.oid IS NOT NULL THEN ad.adrelid
              WHEN dc.oid IS NOT NULL THEN dc.contypid
              WHEN rw.oid IS NOT NULL THEN rw.ev_class
              WHEN ao.oid IS NOT NULL THEN ao.amopfamily
              WHEN ap.oid IS NOT NULL THEN ap.amprocfamily
              ELSE o.objid END AS f_oid,
         CASE WHEN ad.oid IS NOT NULL THEN ad.adnum
              WHEN dc.oid IS NOT NULL OR rw.oid IS NOT NULL OR ao.oid IS NOT NULL OR ap.oid IS NOT NULL THEN 0
              WHEN o.classid = 'pg_class'::regclass AND c.relkind NOT IN ('r', 'p', 'f') THEN 0
              ELSE o.objsubid END AS f_subid
  FROM objects o
  LEFT JOIN pg_attrdef ad ON o.classid = 'pg_attrdef'::regclass AND ad.oid = o.objid
  LEFT JOIN pg_constraint dc ON o.classid = 'pg_constraint'::regclass AND dc.oid = o.objid AND dc.contypid <> 0
  LEFT JOIN pg_rewrite rw ON o.classid = 'pg_rewrite'::regclass AND rw.oid = o.objid AND rw.rulename = '_RETURN'
  LEFT JOIN pg_amop ao ON o.classid = 'pg_amop'::regclass AND ao.oid = o.objid
  LEFT JOIN pg_amproc ap ON o.classid = 'pg_amproc'::regclass AND ap.oid = o.objid
  LEFT JOIN pg_class c ON o.classid = 'pg_class'::regclass AND c.oid = o.objid
)
SELECT d.classid::bigint AS raw_class_oid, d.objid::bigint AS raw_oid,
       f.f_class::regclass::text AS obj_class, f.f_class::oid::bigint AS obj_class_oid, f.f_oid::bigint AS obj_oid,
       f.f_subid AS obj_subid,
       r.f_class::regclass::text AS ref_class, r.f_oid::bigint AS ref_oid, r.f_subid AS ref_subid,
       d.deptype::text AS deptype,
       i.type AS obj_type, i.schema AS obj_schema, i.name AS obj_name, i.identity AS obj_identity,
       CASE WHEN f.f_class = 'pg_class'::regclass THEN (SELECT c.relkind::text FROM pg_class c WHERE c.oid = f.f_oid)
            END AS obj_relkind,
       -- the table an index, constraint, trigger, rule or policy belongs to
       CASE f.f_class WHEN 'pg_class'::regclass THEN (SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = f.f_oid)
                      WHEN 'pg_constraint'::regclass THEN (SELECT x.conrelid FROM pg_constraint x WHERE x.oid = f.f_oid)
                      WHEN 'pg_trigger'::regclass THEN (SELECT x.tgrelid FROM pg_trigger x WHERE x.oid = f.f_oid)
                      WHEN 'pg_rewrite'::regclass THEN (SELECT x.ev_class FROM pg_rewrite x WHERE x.oid = f.f_oid)
                      WHEN 'pg_policy'::regclass THEN (SELECT x.polrelid FROM pg_policy x WHERE x.oid = f.f_oid)
            END::bigint AS obj_table_oid
FROM deps d
JOIN folded f ON (f.classid, f.objid, f.objsubid) = (d.classid, d.objid, d.objsubid)
JOIN folded r ON (r.classid, r.objid, r.objsubid) = (d.refclassid, d.refobjid, d.refobjsubid)
CROSS JOIN LATERAL pg_identify_object(f.f_class, f.f_oid, f.f_subid) i
WHERE (f.f_class, f.f_oid, f.f_subid) IS DISTINCT FROM (r.f_class, r.f_oid, r.f_subid)
ORDER BY 3, 4, 5, 6, 7, 8;
