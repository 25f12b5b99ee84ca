-- The names of the settings the server knows: a newer pg_dump's SET of one it lacks is left out.
SELECT name FROM pg_settings ORDER BY 1;
