"""Which step restores each pg_dump TOC entry (pg/ddl.phase_of)."""
import pytest

from include.pgferry.pg.ddl import TocEntry, phase_of


def entry(desc, section="post-data", rest="app t bob"):
    return TocEntry(line="", dump_id=1, catalog_oid=0, object_oid=0, desc=desc, rest=rest, section=section)


@pytest.mark.parametrize("toc, phase", [
    (entry("TABLE", "pre-data"), "structure"),             # all pre-data: with the structure
    (entry("RULE"), "structure"),                          # rules and policies do not disturb COPY
    (entry("POLICY"), "structure"),
    (entry("RULE", rest="app _RETURN bob"), "indexes"),    # a view body that may need a primary key
    (entry("INDEX"), "indexes"),
    (entry("CONSTRAINT"), "indexes"),
    (entry("INDEX ATTACH"), "indexes"),
    (entry("TRIGGER"), "final"),                           # triggers and foreign keys last, as DTS does
    (entry("FK CONSTRAINT"), "final"),
    (entry("ACL"), "final"),
    (entry("EVENT TRIGGER"), "event_triggers"),            # after all of pgferry's own DDL
    (entry("COMMENT", rest="- EVENT TRIGGER e bob"), "event_triggers"),
    (entry("TABLE DATA", "data"), None),                   # data moves by COPY, never by pg_restore
])
def test_each_entry_goes_to_its_phase(toc, phase):
    assert phase_of(toc) == phase
