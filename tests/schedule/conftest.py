from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from include.pgferry.schedule.declared import FILE_ENV


@pytest.fixture
def migrations_file(tmp_path, monkeypatch):
    """Write a migrations.yaml and point pgferry (and the DAG file) at it."""
    def write(text: str) -> Path:
        path = tmp_path / "migrations.yaml"
        path.write_text(textwrap.dedent(text))
        monkeypatch.setenv(FILE_ENV, str(path))
        return path
    return write

