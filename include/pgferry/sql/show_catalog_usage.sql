-- May the current user read the system catalog?
SELECT current_user AS "user", has_schema_privilege('pg_catalog', 'USAGE') AS usage;
