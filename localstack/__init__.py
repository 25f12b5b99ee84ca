"""The local stack: throwaway PostgreSQL clusters, the moto server, a private Airflow home and its settings.

Used by tools/ (make demo, make airflow), tests/ and bench/; product code never imports it.
"""
