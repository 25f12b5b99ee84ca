-- May the current user CREATE SUBSCRIPTION in the current database? Superuser (or rds_superuser on
-- RDS/Aurora), or from PostgreSQL 16 a member of pg_create_subscription with CREATE on the database.
-- A role that does not exist on this version counts as not held.
SELECT current_user AS "user",
       current_database() AS database,
       current_setting('server_version_num')::int AS version_num,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'rds_superuser'
                 AND pg_has_role(current_user, r.oid, 'USAGE')) AS rds_superuser,
       EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'pg_create_subscription'
                 AND pg_has_role(current_user, r.oid, 'USAGE')) AS create_subscription_role,
       has_database_privilege(current_database(), 'CREATE') AS create_on_database;
