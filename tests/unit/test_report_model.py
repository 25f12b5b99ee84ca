"""The validation report (report/model.build_report): what makes a run fail, and what each table shows."""
from include.pgferry.report.model import build_report
from include.pgferry.report.text import render_report

STATE = {"started_at": 0, "source": "src", "target": "tgt",
         "warnings": [{"level": "warning", "message": "w1"}, {"level": "error", "message": "not a warning"}]}


def table(name, rows=10, target_rows=10, checksum=True):
    return {"table": name, "target": name, "source_rows": rows, "target_rows": target_rows,
            "rows_match": rows == target_rows, "checksum_match": checksum, "ok": rows == target_rows and checksum}


def report(tables=(), src_seq=None, tgt_seq=None, src_obj=None, tgt_obj=None, written=(), copies=()):
    return build_report(STATE, [dict(t) for t in tables], src_seq or {}, tgt_seq or {}, src_obj or {}, tgt_obj or {},
                        list(written), list(copies))


def test_a_table_sums_the_copies_of_all_its_units():
    copies = [{"id": "app.t [1/2]", "table": "app.t", "bytes": 3_000_000, "seconds": 1.0, "rows": 5},
              {"id": "app.t [2/2]", "table": "app.t", "bytes": 1_000_000, "seconds": 1.0, "rows": 5}]
    [t] = report([table("app.t")], copies=copies)["tables"]
    assert (t["bytes"], t["copy_seconds"], t["mb_per_s"]) == (4_000_000, 2.0, 2.0)


def test_a_table_named_like_a_range_is_not_mistaken_for_another():
    copies = [{"id": 'app."t [1/2]"', "table": 'app."t [1/2]"', "bytes": 7, "seconds": 1.0, "rows": 1}]
    r = report([table("app.t"), table('app."t [1/2]"')], copies=copies)
    assert [t["bytes"] for t in r["tables"]] == [None, 7]


def test_everything_equal_is_ok_and_only_warnings_are_listed():
    r = report([table("app.t")], {"app.s": (5, True)}, {"app.s": (5, True)}, {"table": 1}, {"table": 1})
    assert r["ok"] and r["problems"] == []
    assert r["warnings"] == ["w1"]
    assert "pgferry validation: OK" in render_report(r)


def test_each_difference_is_a_problem_naming_it():
    r = report([table("app.rows", 10, 9), table("app.content", checksum=False)],
               {"app.s": (5, True)}, {"app.s": (4, True)}, {"index": 3}, {"index": 2}, written=["app.rows"])
    assert not r["ok"]
    assert r["problems"] == [
        "table app.rows: rows 10 on the source, 9 on the target",
        "table app.content: content checksum differs",
        "sequence app.s: source (5, True), target (4, True)",
        "index: 3 on the source, 2 on the target",
        "the source took writes during the migration (no incremental sync in this mode): app.rows"]
    assert r["source_writes"]["proof"] == "counters moved"
    assert "PROBLEM: table app.rows" in render_report(r)


def test_the_report_says_which_tables_compare_rows_read_and_which_validate_read():
    early = {**table("app.a"), "compared_by": "compare_rows"}
    text = render_report(report([early, table("app.b"), {**table("app.c"), "compared_by": "compare_rows"}]))
    assert "\n  2 of them read by compare_rows, beside finalize; 1 read by validate\n" in text
    # a run that read every table at validate (a data-less run, a direct call) says nothing of it
    assert "compare_rows" not in render_report(report([table("app.a")]))
