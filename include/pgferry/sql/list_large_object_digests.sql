-- Every large object with its owner, privileges and the md5 of its content (read whole, up to 1 GB each).
SELECT m.oid::bigint AS oid, pg_get_userbyid(m.lomowner) AS owner, m.lomacl::text[] AS acl,
       md5(lo_get(m.oid)) AS content_md5
FROM pg_largeobject_metadata m
ORDER BY m.oid;
