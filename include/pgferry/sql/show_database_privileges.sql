-- The current user's CREATE right on the current database (to create schemas).
SELECT current_user AS "user", current_database() AS database,
       has_database_privilege(current_database(), 'CREATE') AS "create";
