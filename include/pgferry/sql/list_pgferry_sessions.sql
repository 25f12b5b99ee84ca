-- pgferry's other sessions on the current database (application_name 'pgferry ...', see
-- include/pgferry/pg/session_names.py): what each is doing, for how long, and the tables it holds locks on.
SELECT a.pid, a.usename AS "user", a.application_name, a.state, a.wait_event,
       extract(epoch FROM now() - a.state_change)::float8 AS state_seconds,
       extract(epoch FROM now() - a.xact_start)::float8 AS transaction_seconds,
       ARRAY(SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
             FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE l.pid = a.pid AND l.locktype = 'relation' AND l.granted AND c.relkind IN ('r', 'p')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             ORDER BY 1) AS locked_tables
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.application_name LIKE 'pgferry %'
ORDER BY a.pid;
