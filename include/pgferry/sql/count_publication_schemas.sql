-- The schemas publications list (FOR TABLES IN SCHEMA, PostgreSQL 15+).
SELECT 'publication schema' AS kind, count(*)::int AS n FROM pg_publication_namespace;
