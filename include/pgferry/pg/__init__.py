"""PostgreSQL itself: endpoints, catalog reads, names, DDL, and the one worker pool."""
