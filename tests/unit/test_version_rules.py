"""Version rules that cannot be broken with the one PostgreSQL release installed here."""
from include.pgferry.pg.catalog import major_label, major_version, version_label
from pathlib import Path

from include.pgferry.checks.pg import version_findings
from include.pgferry.pg.client_tools import ClientTools, best_for

PG15 = [ClientTools(1500, Path("/usr/lib/postgresql/15/bin"))]


def test_version_numbers_compare_as_postgresql_numbers_them():
    assert major_version(90612) > major_version(90224)
    assert major_version(100001) > major_version(90624)
    assert major_version(150020) == major_version(150004)
    assert major_label(90624) == "9.6" and major_label(150020) == "15"
    assert version_label(90224) == "9.2.24" and version_label(150020) == "15.20"


def test_source_older_than_9_2_is_refused():
    msgs = [f.message for f in version_findings(90124, 150000, PG15)]
    assert any("source PostgreSQL 9.1.24 is older than 9.2" in m for m in msgs)


def test_target_older_than_source_is_refused():
    msgs = [f.message for f in version_findings(150004, 140010, PG15)]
    assert msgs == ["target PostgreSQL 14.10 is older than the source 15.4: the target must be the same major "
                    "version or newer"]


def test_client_tools_older_than_either_server_are_refused_naming_both_versions_and_the_fix():
    for source, target in ((170002, 170002), (130023, 170010)):
        findings = version_findings(source, target, PG15)
        assert len(findings) == 1
        v = lambda n: f"{n // 10000}.{n % 10000}"  # noqa: E731
        assert findings[0].message == (
            f"no pg_dump/pg_restore on this worker can dump both the source (PostgreSQL {v(source)}) and the "
            f"target (PostgreSQL {v(target)}): pg_dump must be at least as new as the newer server, 17; the "
            f"newest found is pg_dump 15 (/usr/lib/postgresql/15/bin)")
        assert findings[0].fix.startswith("install postgresql-client-17 (or newer) on every worker")
        assert "set PG_BINDIR to a directory holding pg_dump and pg_restore 17 or newer" in findings[0].fix


def test_no_client_tools_at_all_is_refused():
    message = version_findings(150000, 150000, [])[0].message
    assert "none was found (PG_BINDIR, /usr/lib/postgresql/*/bin, the project's .cache/pg, PATH)" in message


def test_a_source_newer_than_the_target_is_refused_whatever_the_client_tools():
    msgs = [f.message for f in version_findings(170002, 150004, [ClientTools(1800, Path("/x"))])]
    assert msgs == ["target PostgreSQL 15.4 is older than the source 17.2: the target must be the same major "
                    "version or newer"]


def test_the_lowest_client_major_that_serves_both_servers_is_picked_first_found_on_a_tie():
    found = [ClientTools(1800, Path("/a")), ClientTools(1500, Path("/b")), ClientTools(1700, Path("/c")),
             ClientTools(1700, Path("/d"))]
    assert best_for(found, 130023, 150004) == ClientTools(1500, Path("/b"))
    assert best_for(found, 130023, 170010) == ClientTools(1700, Path("/c"))
    assert best_for(found, 170010, 180001) == ClientTools(1800, Path("/a"))
    assert best_for(found, 130023, 190000) is None


def test_supported_pairs_pass():
    assert version_findings(90224, 150000, PG15) == []
    assert version_findings(150000, 150020, PG15) == []
    assert version_findings(90624, 150000, PG15) == []   # 9.6 -> 15
    assert version_findings(130023, 170010, PG15 + [ClientTools(1800, Path("/x"))]) == []
