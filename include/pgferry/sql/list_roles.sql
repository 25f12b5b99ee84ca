-- Every role of the cluster.
SELECT rolname AS role FROM pg_roles ORDER BY 1;
