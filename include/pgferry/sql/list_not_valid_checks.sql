-- NOT VALID check constraints that apply to one table, each with the table that defines it (itself, or
-- the ancestor it is inherited from; a constraint both inherited and local is listed on both), its
-- definition (pg_get_constraintdef keeps NOT VALID and NO INHERIT) and its comment. Loading rows that
-- break such a constraint works only without it, so a load that finds one (a retried copy, after the
-- lane built it) drops it and adds it back, unvalidated, in the same transaction. `depth` orders the
-- drops (ancestors first) and the adds (descendants first: an ancestor's add then merges).
WITH RECURSIVE loaded AS (
  SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = :'schema' AND c.relname = :'table'
), up (relid, conname, depth) AS (
  SELECT con.conrelid, con.conname, 0
  FROM pg_constraint con JOIN loaded ON con.conrelid = loaded.oid
  WHERE con.contype = 'c' AND NOT con.convalidated
  UNION
  SELECT i.inhparent, up.conname, up.depth + 1
  FROM up JOIN pg_inherits i ON i.inhrelid = up.relid
  JOIN pg_constraint p ON p.conrelid = i.inhparent AND p.conname = up.conname AND p.contype = 'c'
)
SELECT n.nspname AS schema, c.relname AS table, con.conname AS name, up.depth,
       pg_get_constraintdef(con.oid) AS definition, obj_description(con.oid, 'pg_constraint') AS comment
FROM up
JOIN pg_constraint con ON con.conrelid = up.relid AND con.conname = up.conname AND con.contype = 'c'
JOIN pg_class c ON c.oid = up.relid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.conislocal
ORDER BY up.depth DESC, 1, 2, 3;
