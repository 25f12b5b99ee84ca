-- The online apply's progress row of one slot, on the target (pgferry_online.apply_progress, made by the
-- apply): the last applied source commit (its LSN and the source's commit time), when the apply last saw
-- everything the source had flushed (caught_up_at, the source's clock), and the counts applied so far.
SELECT slot_name,
       commit_lsn::text AS commit_lsn,
       commit_time,
       caught_up_at,
       applied_at,
       transactions,
       changes
FROM pgferry_online.apply_progress
WHERE slot_name = :'slot';
