"""A private Airflow home for a test session or the local stack, set before airflow is imported."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from localstack import ROOT


def project_env(home: Path) -> dict:
    """The settings every Airflow of this project runs with: its home, the project's dags/ and plugins/,
    no examples, the project root importable, the API on loopback."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def configure(home: Path) -> dict:
    """Point Airflow at `home` (SQLite metadata DB, the project's dags/) in this process's env."""
    home.mkdir(parents=True, exist_ok=True)
    env = project_env(home)
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return env


def migrate_db(home: Path):
    marker = home / ".migrated"
    if marker.exists():
        return
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                   capture_output=True, env=os.environ.copy(), timeout=300)
    marker.touch()


def set_connection(conn_id: str, **fields):
    """Expose an Airflow connection to tasks run in this process (AIRFLOW_CONN_* env var, JSON)."""
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(fields)


def postgres_connection(conn_id: str, port: int, dbname: str, user: str = "postgres", password: str | None = None,
                        host: str = "127.0.0.1"):
    fields = {"conn_type": "postgres", "host": host, "port": port, "schema": dbname, "login": user}
    if password is not None:
        fields["password"] = password
    set_connection(conn_id, **fields)
