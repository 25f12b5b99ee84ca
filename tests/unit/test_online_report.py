"""The online part of the run report (report/model.online_report, its text and HTML forms): lag when the
approval was asked, the answer, the downtime from freeze_source's start to validate's end, the apply's
counts; and what it says when a part is missing."""
from include.pgferry.report.html import logical_report_html, online_report_html
from include.pgferry.report.model import build_report, online_report
from include.pgferry.report.text import online_lines

LAG = {"lag_bytes": 2_500_000, "lag_seconds": 1.5, "retained_bytes": 80_000_000, "confirmed_flush_lsn": "0/3000000",
       "looked_at": "2026-12-06T21:00:00+00:00"}
RESPONSE = {"chosen_options": ["Cut over"], "params_input": {"freeze_mode": "stopped"},
            "responded_by": {"id": "ops1", "name": "Olga"}, "responded_at": "2026-12-06T21:01:00+00:00"}
FROZEN = {"freeze_lsn": "0/3100000", "mode": "stopped", "started_at": 1000.0, "frozen_at": 1000.4,
          "write_counters": {}}
# validate's rows: two tables settled from prevalidate (5 and 0 buckets read again), one read whole
TABLES = [{"table": "app.a", "buckets_read_again": 5}, {"table": "app.b", "buckets_read_again": 0}, {"table": "app.c"}]
APPLIED = {"applied": 12, "freeze_lsn": "0/3100000", "progress": "0/30FFF00", "transactions": 412,
           "row_changes": 2060}


def test_the_downtime_runs_from_the_freeze_start_to_the_validate_end():
    r = online_report(LAG, RESPONSE, FROZEN, 1012.26, APPLIED)
    assert r == {"lag_at_approval": {"lag_bytes": 2_500_000, "lag_seconds": 1.5, "retained_bytes": 80_000_000},
                 "approval": {"option": "Cut over", "by": "Olga (ops1)", "freeze_mode": "stopped",
                              "at": "2026-12-06T21:01:00+00:00"},
                 "freeze_mode": "stopped", "freeze_started_at": 1000.0, "validated_at": 1012.26, "downtime_s": 12.3,
                 "apply": {"transactions": 412, "row_changes": 2060}, "validate_reads": None}
    assert online_report(LAG, RESPONSE, FROZEN, 1012.26, APPLIED, TABLES)["validate_reads"] == {
        "tables": 3, "settled": 2, "buckets_read_again": 5}


def test_the_text_says_each_part_on_a_line():
    assert online_lines(online_report(LAG, RESPONSE, FROZEN, 1012.26, APPLIED, TABLES)) == [
        "online cutover:",
        "  lag when the approval was asked: 2.5 MB, 1.5 s behind the source; 80.0 MB of WAL retained",
        "  approval: Cut over by Olga (ops1) at 2026-12-06T21:01:00+00:00, freeze_mode stopped",
        "  downtime (freeze_source start to validate end): 12.3 s",
        "  applied from the slot: 412 transaction(s), 2060 row change(s)",
        "  validate at the cutover: 2 of 3 table(s) settled from prevalidate by reading 5 changed bucket(s) again; "
        "1 read whole"]


def test_what_is_missing_is_said_not_invented():
    # validate failed (no end), the lag had no seconds yet, an older freeze without started_at, a plain user id
    r = online_report({**LAG, "lag_seconds": None}, {**RESPONSE, "responded_by": "admin"},
                      {k: v for k, v in FROZEN.items() if k != "started_at"}, None, None)
    assert r["freeze_started_at"] == 1000.4 and r["downtime_s"] is None and r["apply"] is None
    lines = online_lines(r)
    assert "2.5 MB, ? behind the source" in lines[1] and "by admin at" in lines[2]
    assert lines[3].endswith("not known (validate did not pass)") and lines[4].endswith("not recorded")
    nothing = online_lines(online_report(None, None, None, None, None))
    assert [line.split(": ", 1)[1] for line in nothing[1:]] == [
        "not recorded", "not recorded", "not known (validate did not pass)", "not recorded", "not recorded"]


def test_the_tab_shows_the_cutover_after_the_verdict_and_escapes_names():
    r = online_report(LAG, {**RESPONSE, "responded_by": {"id": "x<y>", "name": "x<y>"}}, FROZEN, 1012.26, APPLIED)
    part = online_report_html(r)
    assert "<h2>Online cutover</h2>" in part and "<b>12.3 s</b>" in part
    assert "Cut over by x&lt;y&gt;" in part and "x<y>" not in part
    assert "2.5 MB, 1.5 s behind the source; 80.0 MB of WAL retained" in part
    assert "412 transaction(s), 2060 row change(s)" in part and "<td>stopped</td>" in part
    logical = build_report({"started_at": 0, "source": "s", "target": "t"}, [], {}, {}, {}, {}, [], [])
    page = logical_report_html(logical, r)
    assert page.index("pgferry validation") < page.index("Online cutover") < page.index("Tables:")
    assert "Online cutover" not in logical_report_html(logical)
