-- One subscription of the current database by name: whether it is enabled, the slot and publications it
-- uses, and its apply worker (pg_stat_subscription's row without a relid; NULL pid: no worker runs).
-- Never subconninfo: it holds the source's password (and only superusers may read it).
SELECT s.subname AS name,
       s.subenabled AS enabled,
       s.subslotname::text AS slot_name,
       s.subpublications::text[] AS publications,
       w.pid AS worker_pid,
       w.received_lsn::text AS received_lsn,
       w.latest_end_lsn::text AS latest_end_lsn
FROM pg_subscription s
LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL
WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.subname = :'name';
