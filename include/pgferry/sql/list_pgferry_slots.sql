-- Replication slots pgferry made (named pgferry_...), on any database of the source: whether a session
-- holds them and how much WAL each keeps.
SELECT slot_name,
       database,
       temporary,
       active,
       wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes
FROM pg_replication_slots
WHERE slot_name LIKE 'pgferry\_%'
ORDER BY slot_name;
