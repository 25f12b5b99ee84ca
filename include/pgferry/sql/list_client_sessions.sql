-- Other client sessions of the current database that are not pgferry's own (application_name
-- 'pgferry ...'): what a read-only freeze ends, so that only read-only sessions remain.
SELECT pid, usename AS "user", application_name, state
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND application_name NOT LIKE 'pgferry%'
ORDER BY pid;
