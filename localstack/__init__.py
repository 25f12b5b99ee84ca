"""The local stack: throwaway PostgreSQL clusters, the moto server, a private Airflow home and its settings.

Used by tools/ (make demo, make airflow), tests/ and bench/; product code never imports it, and it never
imports tools/ or tests/.

    ports          free_port, port_free
    processes      stop_group, group_alive: whole process groups, never a lone parent
    pgcluster      PgCluster (initdb/pg_ctl on a free port, of a given major), pg_bindir
    pg_majors      the pinned PostgreSQL majors besides Debian's, in .cache/pg (make pg-majors)
    airflow_env    an Airflow home for this process (project_env, configure, migrate_db, connections)
    settings       airflow_settings.yaml (astro format) -> airflow connections/pools/variables import
    airflow_server `airflow standalone` in its own process group, health, admin login
    stack          .stack/: state, clusters, the moto server, the Airflow home, start/stop/status
    dagrun         load a DAG from dags/, run it with dag.test(), read XCom
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]     # the project root: dags/, plugins/, airflow_settings.yaml
