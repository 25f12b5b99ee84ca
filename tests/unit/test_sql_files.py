"""Every catalog read is a file of sql/ that psql runs as-is; the code asks only for files that exist."""
import re
from pathlib import Path

import pytest

from include.pgferry.pg.catalog import SQL_DIR, sql_text

ROOT = Path(__file__).resolve().parents[2]


def test_psql_variables_become_psycopg_placeholders_and_casts_stay():
    text = sql_text("list_column_type_extensions")
    assert "%(oids)s::bigint[]::oid[]" in text and "'pg_type'::regclass" in text
    assert ":'" not in text


def test_every_read_the_code_names_is_a_file():
    code = "\n".join(p.read_text() for p in (ROOT / "include" / "pgferry").rglob("*.py"))
    named = set(re.findall(r'fetch(?:_one)?\([^,]+, "(\w+)"', code)) | set(re.findall(r'"(find_\w+)"', code))
    assert named, "the pattern must find the reads"
    missing = sorted(n for n in named if not (SQL_DIR / f"{n}.sql").exists())
    assert missing == []


@pytest.mark.parametrize("path", sorted(SQL_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_each_file_is_named_verb_object_and_says_what_it_reads(path):
    assert re.fullmatch(r"(list|count|find|show|sum)_[a-z_]+\.sql", path.name)
    assert path.read_text().startswith("-- ")
