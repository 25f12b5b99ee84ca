-- Large objects of the current database: owner, privileges (NULL: the owner's defaults) and comment.
SELECT m.oid::bigint AS oid, pg_get_userbyid(m.lomowner) AS owner, m.lomacl::text[] AS acl,
       obj_description(m.oid, 'pg_largeobject') AS comment
FROM pg_largeobject_metadata m
ORDER BY m.oid;
