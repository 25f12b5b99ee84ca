-- Cumulative write counters per table: if any of them moves, somebody wrote to the table.
SELECT relid::bigint AS oid, schemaname AS schema, relname AS name,
       n_tup_ins + n_tup_upd + n_tup_del AS writes,
       n_tup_ins AS inserts, n_tup_upd AS updates, n_tup_del AS deletes
FROM pg_stat_all_tables
WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname !~ '^pg_(toast|temp_)'
ORDER BY 1;
