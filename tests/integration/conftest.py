from __future__ import annotations

from pathlib import Path

import pytest

SQL = Path(__file__).resolve().parents[1] / "support" / "sql"


@pytest.fixture(scope="session")
def awkward_db(pg_source):
    """The deliberately awkward database, loaded once on the source cluster."""
    pg_source.recreate_db("awkward")
    pg_source.run_sql_file(SQL / "awkward.sql", "awkward")
    return "awkward"
