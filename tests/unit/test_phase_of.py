"""Which step restores each pg_dump TOC entry (pg/ddl.phase_of, assign_phases): by its kind, and never
before an entry it depends on."""
import pytest

from include.pgferry.pg.ddl import TocEntry, assign_phases, phase_of


def entry(desc, section="post-data", rest="app t bob", dump_id=1, depends_on=()):
    return TocEntry(line="", dump_id=dump_id, catalog_oid=0, object_oid=0, desc=desc, rest=rest, section=section,
                    depends_on=tuple(depends_on))


@pytest.mark.parametrize("toc, phase", [
    (entry("TABLE", "pre-data"), "structure"),             # all pre-data: with the structure
    (entry("RULE"), "structure"),                          # rules and policies do not disturb COPY
    (entry("POLICY"), "structure"),
    (entry("RULE", rest="app _RETURN bob"), "structure"),  # a view body split off a view loop: no key needed
    (entry("MATERIALIZED VIEW"), "indexes"),               # post-data: after the keys its query needs
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


def test_an_entry_goes_no_earlier_than_what_it_depends_on():
    # pg_dump 15's dump of `CREATE MATERIALIZED VIEW rc AS SELECT r.id, r.name, count(*) FROM r JOIN x ...
    # GROUP BY r.id` with a unique index, a comment and a policy-like rule on things after it; ids as pg_dump's
    toc = [
        entry("TABLE", "pre-data", "public r bob", 214),
        entry("TABLE", "pre-data", "public x bob", 215),
        entry("VIEW", "pre-data", "public rv bob", 218),
        entry("CONSTRAINT", rest="public r r_pkey bob", dump_id=3213, depends_on=[214]),
        entry("MATERIALIZED VIEW", rest="public rc bob", dump_id=216, depends_on=[3213, 215, 214]),
        entry("INDEX", rest="public rc_id bob", dump_id=3217, depends_on=[216]),
        entry("RULE", rest="public rv _RETURN bob", dump_id=3364, depends_on=[3213, 214, 215, 218]),
        entry("POLICY", rest="public rc p bob", dump_id=3400, depends_on=[216]),
        entry("RULE", rest="public rv r_ins bob", dump_id=3401, depends_on=[218]),
        entry("COMMENT", rest="public MATERIALIZED VIEW rc bob", dump_id=3402, depends_on=[216]),
        entry("TRIGGER", rest="public x t bob", dump_id=3403, depends_on=[215]),
        entry("COMMENT", rest="public TRIGGER t bob", dump_id=3404, depends_on=[3403, 999]),   # 999: left out
    ]
    placed = assign_phases(toc)
    assert placed == {214: "structure", 215: "structure", 218: "structure", 3213: "indexes", 216: "indexes",
                      3217: "indexes", 3364: "indexes", 3400: "indexes", 3401: "structure", 3402: "final",
                      3403: "final", 3404: "final"}
    # in any order of the list (a dependency after its dependent): the same phases
    assert assign_phases(list(reversed(toc))) == placed


def test_entries_depending_on_each_other_in_a_loop_are_placed_all_the_same():
    toc = [entry("RULE", dump_id=1, depends_on=[2]), entry("INDEX", dump_id=2, depends_on=[1])]
    assert assign_phases(toc) == {1: "indexes", 2: "indexes"}


def test_an_online_runs_own_publication_and_its_tables_stay_out_of_the_archive():
    from include.pgferry.pg.ddl import TocEntry, without_publication
    toc = [TocEntry("1; 0 1 TABLE public t o", 1, 0, 1, "TABLE", "public t o", "pre-data"),
           TocEntry("2; 0 2 PUBLICATION - pgferry_ab12 o", 2, 0, 2, "PUBLICATION", "- pgferry_ab12 o", "post-data"),
           TocEntry("3; 0 3 PUBLICATION TABLE public pgferry_ab12 t o", 3, 0, 3, "PUBLICATION TABLE",
                    "public pgferry_ab12 t o", "post-data", (1, 2)),
           TocEntry("4; 0 4 PUBLICATION - app_pub o", 4, 0, 4, "PUBLICATION", "- app_pub o", "post-data"),
           TocEntry("5; 0 5 PUBLICATION TABLE public app_pub t o", 5, 0, 5, "PUBLICATION TABLE",
                    "public app_pub t o", "post-data", (1, 4))]
    assert [e.dump_id for e in without_publication(toc, "pgferry_ab12")] == [1, 4, 5]
    assert without_publication(toc, None) == toc
