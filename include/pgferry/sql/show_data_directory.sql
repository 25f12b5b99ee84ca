-- Where the server keeps its data (readable by superusers and pg_read_all_settings only).
SELECT setting AS data_directory FROM pg_settings WHERE name = 'data_directory';
