-- One publication by name, with how many tables it lists (PostgreSQL 10+).
SELECT p.pubname AS name,
       p.puballtables AS all_tables,
       (SELECT count(*) FROM pg_publication_rel r WHERE r.prpubid = p.oid)::int AS tables
FROM pg_publication p
WHERE p.pubname = :'name';
