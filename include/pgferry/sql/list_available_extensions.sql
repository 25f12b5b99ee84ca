-- Which of the given extensions the server can create, and whether they are installed.  psql: \set names '{hstore}'
SELECT name, installed_version IS NOT NULL AS installed FROM pg_available_extensions
WHERE name = ANY(:'names'::text[]) ORDER BY 1;
