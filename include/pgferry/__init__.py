"""pgferry: PostgreSQL migrations as Airflow 3 DAGs."""
