-- How often a subscription's workers failed (PostgreSQL 15+: pg_stat_subscription_stats); the errors
-- themselves are in the target server's log.
SELECT apply_error_count::bigint AS apply_errors, sync_error_count::bigint AS sync_errors
FROM pg_stat_subscription_stats
WHERE subname = :'name';
