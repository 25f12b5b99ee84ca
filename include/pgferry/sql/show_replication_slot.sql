-- One replication slot by name: its kind, whether a session holds it, where its consumer stands
-- (confirmed_flush_lsn), how far behind the source's WAL insert position that is (lag_bytes: the insert
-- position is past every commit, also asynchronous ones not yet written) and how much WAL it keeps;
-- looked_at is the source's clock at the look (the lag in seconds is measured on the source's clock).
SELECT slot_name,
       plugin,
       slot_type,
       database,
       temporary,
       active,
       active_pid,
       confirmed_flush_lsn::text AS confirmed_flush_lsn,
       restart_lsn::text AS restart_lsn,
       wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes,
       pg_wal_lsn_diff(pg_current_wal_insert_lsn(), confirmed_flush_lsn)::bigint AS lag_bytes,
       clock_timestamp() AS looked_at
FROM pg_replication_slots
WHERE slot_name = :'slot';
