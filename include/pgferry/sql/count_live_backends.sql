-- How many of the given backend pids are still there.  psql: \set pids '{12345,12346}'
SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY(:'pids'::int[]);
