-- Large objects (pg_largeobject) of the current database.
SELECT count(*) AS n FROM pg_largeobject_metadata;
