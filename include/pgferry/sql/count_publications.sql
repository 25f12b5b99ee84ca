-- Publications and the tables they list (PostgreSQL 10+). Database-level objects, migrated with the
-- whole database (pg_dump dumps them only then).
SELECT 'publication' AS kind, count(*)::int AS n FROM pg_publication
UNION ALL
SELECT 'publication table', count(*)::int FROM pg_publication_rel;
