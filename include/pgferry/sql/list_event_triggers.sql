-- Event triggers of the current database.
SELECT evtname AS name FROM pg_event_trigger ORDER BY 1;
