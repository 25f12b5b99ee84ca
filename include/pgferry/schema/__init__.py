"""Structure: pg_dump/pg_restore driving, statement rewriting for renames and column choice."""
