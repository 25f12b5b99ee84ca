-- What logical decoding needs on the source: wal_level (and, on Amazon RDS/Aurora, rds.logical_replication,
-- NULL elsewhere), the slot and WAL sender limits and how many of each are in use.
SELECT current_setting('wal_level') AS wal_level,
       current_setting('rds.logical_replication', true) AS rds_logical_replication,
       current_setting('max_replication_slots')::int AS max_replication_slots,
       (SELECT count(*) FROM pg_replication_slots)::int AS used_slots,
       current_setting('max_wal_senders')::int AS max_wal_senders,
       (SELECT count(*) FROM pg_stat_replication)::int AS used_wal_senders;
