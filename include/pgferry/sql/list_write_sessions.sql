-- Other sessions of the current database with an open write transaction (they hold a transaction id).
SELECT pid, usename AS "user", application_name, state FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
ORDER BY pid;
