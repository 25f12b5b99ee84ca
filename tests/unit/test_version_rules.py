"""Version rules that cannot be broken with the one PostgreSQL release installed here."""
from include.pgferry.pg.catalog import major_label, major_version, version_label
from include.pgferry.checks.pg import version_findings


def test_version_numbers_compare_as_postgresql_numbers_them():
    assert major_version(90612) > major_version(90224)
    assert major_version(100001) > major_version(90624)
    assert major_version(150020) == major_version(150004)
    assert major_label(90624) == "9.6" and major_label(150020) == "15"
    assert version_label(90224) == "9.2.24" and version_label(150020) == "15.20"


def test_source_older_than_9_2_is_refused():
    msgs = [f.message for f in version_findings(90124, 150000, 15)]
    assert any("source PostgreSQL 9.1.24 is older than 9.2" in m for m in msgs)


def test_target_older_than_source_is_refused():
    msgs = [f.message for f in version_findings(150004, 140010, 15)]
    assert msgs == ["target PostgreSQL 14.10 is older than the source 15.4: the target must be the same major "
                    "version or newer"]


def test_pg_dump_older_than_source_is_refused():
    msgs = [f.message for f in version_findings(170002, 170002, 15)]
    assert msgs == ["pg_dump 15 on this worker cannot dump a PostgreSQL 17 server: install PostgreSQL 17 client tools"]


def test_supported_pairs_pass():
    assert version_findings(90224, 150000, 15) == []
    assert version_findings(150000, 170000, 15) == []
    assert version_findings(90624, 150000, 15) == []   # 9.6 -> 15
