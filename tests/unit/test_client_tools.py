"""Which pg_dump/pg_restore a worker has, found the way a run finds them (real binaries: Debian's 15)."""
import os
from pathlib import Path

import pytest

from include.pgferry.pg import client_tools

DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")


def test_pg_bindir_is_a_list_searched_first_and_each_directory_is_listed_once(monkeypatch, tmp_path):
    half = tmp_path / "half"            # pg_dump without pg_restore: not a pair
    half.mkdir()
    os.symlink(DEBIAN_15 / "pg_dump", half / "pg_dump")
    monkeypatch.setenv("PG_BINDIR", f"{tmp_path / 'missing'}:{half}:{DEBIAN_15}")
    monkeypatch.setenv(client_tools.CACHE_ENV, str(tmp_path / "no-cache"))
    found = client_tools.installed()
    assert found[0] == client_tools.ClientTools(1500, DEBIAN_15)
    assert [t.bindir for t in found].count(DEBIAN_15) == 1 and half not in [t.bindir for t in found]
    assert client_tools.for_servers(130023, 150004).bindir == DEBIAN_15
    assert client_tools.unusable_bindirs() == [str(tmp_path / "missing"), str(half)]   # precheck warns of both


def test_the_project_cache_is_searched_by_major(monkeypatch, tmp_path):
    (tmp_path / "15").mkdir()
    os.symlink(DEBIAN_15, tmp_path / "15" / "bin")
    monkeypatch.setenv("PG_BINDIR", "")
    monkeypatch.setenv(client_tools.CACHE_ENV, str(tmp_path))
    assert tmp_path / "15" / "bin" in client_tools.candidate_dirs()


def test_no_pair_new_enough_is_an_error_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PG_BINDIR", str(DEBIAN_15))
    monkeypatch.setenv(client_tools.CACHE_ENV, str(tmp_path))
    with pytest.raises(client_tools.NoClientTools) as info:
        client_tools.for_servers(150004, 190001)
    assert "pg_dump must be at least as new as the newer server, 19" in str(info.value)
    assert "install postgresql-client-19 (or newer)" in str(info.value)
