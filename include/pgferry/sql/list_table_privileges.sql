-- Whether the current user may SELECT from each given relation or sequence.  psql: \set oids '{16384}'
SELECT o AS oid, has_table_privilege(o::oid, 'SELECT') AS "select"
FROM unnest(:'oids'::bigint[]) o;
