-- Tables of the given schemas that have planner statistics (analyzed at least once).  psql: \set schemas '{app}'
SELECT DISTINCT schemaname AS schema, tablename AS name FROM pg_stats
WHERE schemaname = ANY(:'schemas'::text[])
ORDER BY 1, 2;
