-- COPY commands under way on the current database (pg_stat_progress_copy, PostgreSQL 14+): the backend,
-- the table, and how many rows it has taken so far (an uncommitted load's rows, which no query can see).
SELECT p.pid, n.nspname AS schema, c.relname AS table, p.command, p.tuples_processed AS rows
FROM pg_stat_progress_copy p
JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE p.datname = current_database()
ORDER BY p.pid;
