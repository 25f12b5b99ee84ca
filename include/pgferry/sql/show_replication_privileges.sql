-- Whether the current user may make replication slots and publications: superuser, the REPLICATION
-- attribute, membership of Amazon RDS's rds_replication role (NULL where there is none), CREATE on the
-- database.
SELECT r.rolname AS "user",
       r.rolsuper AS superuser,
       r.rolreplication AS replication,
       (SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = 'rds_replication')
           AS rds_replication,
       has_database_privilege(current_database(), 'CREATE') AS create_on_database,
       current_database() AS database
FROM pg_roles r
WHERE r.rolname = current_user;
