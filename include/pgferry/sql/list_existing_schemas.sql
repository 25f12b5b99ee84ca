-- Which of the given schemas exist.  psql: \set schemas '{app,sales}'
SELECT nspname AS schema FROM pg_namespace WHERE nspname = ANY(:'schemas'::text[]) ORDER BY 1;
