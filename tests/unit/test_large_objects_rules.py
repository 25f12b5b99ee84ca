"""Large objects: the GRANTs that rebuild an ACL exactly, the comparison validate reports, the report's
problems; and the publication statement described for its retry."""
from include.pgferry.logical.comparison import compare_large_objects
from include.pgferry.logical.large_objects import grant_statements
from include.pgferry.model import PUBLICATION
from include.pgferry.pg.ddl import describe_statement
from include.pgferry.report.model import build_report


def text(statements) -> list[str]:
    return [s.as_string(None) for s in statements]


def test_an_acl_is_rebuilt_from_nothing_in_its_own_order_with_grant_options_apart():
    grants = [{"grantee": "owner x", "privileges": "SELECT, UPDATE", "grantable": None},
              {"grantee": None, "privileges": "SELECT", "grantable": None},
              {"grantee": "ops", "privileges": "SELECT", "grantable": "UPDATE"}]
    assert text(grant_statements(1003, "owner x", grants)) == [
        "REVOKE ALL ON LARGE OBJECT 1003 FROM PUBLIC",
        'REVOKE ALL ON LARGE OBJECT 1003 FROM "owner x"',
        'GRANT SELECT, UPDATE ON LARGE OBJECT 1003 TO "owner x"',
        "GRANT SELECT ON LARGE OBJECT 1003 TO PUBLIC",
        'GRANT SELECT ON LARGE OBJECT 1003 TO "ops"',
        'GRANT UPDATE ON LARGE OBJECT 1003 TO "ops" WITH GRANT OPTION']


def test_an_empty_acl_stays_empty():
    assert text(grant_statements(7, "o", [])) == ["REVOKE ALL ON LARGE OBJECT 7 FROM PUBLIC",
                                                  'REVOKE ALL ON LARGE OBJECT 7 FROM "o"']


def lo(md5="a", owner="o", acl=None):
    return {"content_md5": md5, "owner": owner, "acl": acl}


def test_large_objects_are_compared_oid_by_oid_on_content_owner_and_acl():
    source = {1: lo(), 2: lo(), 3: lo(acl=["o=rw/o"]), 4: lo()}
    target = {1: lo(), 2: lo(md5="b", owner="p"), 3: lo(acl=None), 5: lo()}
    assert compare_large_objects(source, target, keep_owners=True) == {
        "source": 4, "target": 4,
        "differing": ["2 (content, owner differs)", "3 (acl differs)", "4 missing on the target",
                      "5 only on the target"]}
    # keep_owners false: the target user owns everything, so only content counts
    assert compare_large_objects(source, target, keep_owners=False)["differing"] == [
        "2 (content differs)", "4 missing on the target", "5 only on the target"]


def test_differing_large_objects_fail_the_report_and_are_named():
    state = {"started_at": 0, "source": "s", "target": "t"}
    report = build_report(state, [], {}, {}, {}, {}, [], [],
                          large_objects={"source": 2, "target": 2, "differing": ["7 (content differs)"]})
    assert not report["ok"]
    assert report["problems"] == ["large objects differ: 7 (content differs)"]
    assert {"kind": "large object", "source": 2, "target": 2, "ok": True} in report["objects"]
    assert build_report(state, [], {}, {}, {}, {}, [], [])["ok"]    # not migrated: nothing to say


def test_create_publication_is_described_by_name_for_its_retry():
    s = describe_statement("CREATE PUBLICATION \"Pub One\" FOR TABLE public.t WITH (publish = 'insert');")
    assert (s.kind, s.name, s.table) == (PUBLICATION, "Pub One", None)


def test_pg_dump_entries_differ_by_name_and_public_ownership_is_explained_for_a_non_superuser():
    from include.pgferry.logical.comparison import compare_dump_entries
    source = {"TABLE": ["app t", "app u"], "SCHEMA": ["- app", "- public"], "ACL": ["- SCHEMA public"]}
    target = {"TABLE": ["app t"], "SCHEMA": ["- app"], "INDEX": ["app i"]}
    result = compare_dump_entries(source, target, renamed=False, target_superuser=False)
    assert result["differing"] == ["INDEX: 0 on the source, 1 on the target; only on the target: app i",
                                   "TABLE: 2 on the source, 1 on the target; missing on the target: app u"]
    assert [e.split(" (")[0] for e in result["explained"]] == ["ACL: 1 on the source, 0 on the target",
                                                              "SCHEMA: 2 on the source, 1 on the target"]
    # a superuser could have given public its owner: then it is a difference
    assert len(compare_dump_entries(source, target, renamed=False, target_superuser=True)["differing"]) == 4
    # renamed runs compare counts only (tags carry the old names)
    assert compare_dump_entries({"TABLE": ["a x"]}, {"TABLE": ["b y"]}, renamed=True, target_superuser=True)[
        "differing"] == []
