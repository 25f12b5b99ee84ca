-- The privileges of the large objects that have an ACL, one row per grantee in the ACL's own order
-- (grantee NULL: PUBLIC), as GRANT statements rebuild them.  psql: \set oids '{16400}'
SELECT m.oid::bigint AS oid,
       CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
       string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) FILTER (WHERE NOT a.is_grantable) AS privileges,
       string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) FILTER (WHERE a.is_grantable) AS grantable,
       min(a.ord) AS ord
FROM pg_largeobject_metadata m,
     LATERAL (SELECT e.*, o AS ord FROM unnest(m.lomacl) WITH ORDINALITY AS u(item, o),
              LATERAL aclexplode(ARRAY[u.item]) e) a
WHERE m.lomacl IS NOT NULL AND m.oid = ANY (:'oids'::oid[])
GROUP BY m.oid, a.grantee
ORDER BY m.oid, min(a.ord);
