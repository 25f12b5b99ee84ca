-- Other sessions holding or waiting for a lock on one table, with what each is doing (a prepared
-- transaction shows with no pid). The caller keeps those whose mode conflicts with the lock it waited for.
-- psql: \set schema app \set table orders
SELECT l.pid, l.mode, l.granted, a.usename AS "user", a.application_name, a.state, a.wait_event,
       extract(epoch FROM now() - a.state_change)::float8 AS state_seconds, left(a.query, 200) AS query
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.relation = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = :'schema' AND c.relname = :'table')
  AND l.pid IS DISTINCT FROM pg_backend_pid()
ORDER BY l.granted DESC, l.pid;
