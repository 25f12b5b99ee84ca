-- Total size (heap, indexes, TOAST) of the given relations, in bytes.  psql: \set oids '{16384}'
SELECT coalesce(sum(pg_total_relation_size(o::oid)), 0)::bigint AS bytes FROM unnest(:'oids'::bigint[]) o;
