"""The benchmark's plots come from bench/run.py's own output: medians.json, drawn by bench/plot.py."""
from __future__ import annotations

import json

import pytest

from localstack import ROOT
from tests.support.guide_tools import require

pytestmark = pytest.mark.docs



def test_run_writes_the_medians_the_plots_read():
    from bench.run import medians
    runs = [{"round": r, "method": m, "total": t, "phases": ph, "ok": True}
            for r, m, t, ph in [(1, "pgferry", 30.0, {"cutover": 20.0}), (1, "pgcopydb", 20.0, {}),
                                (2, "pgferry", 26.0, {"cutover": 18.0}), (2, "pgcopydb", 13.0, {}),
                                (3, "pgferry", 28.0, {"cutover": 19.0}), (3, "pgcopydb", 14.0, {})]]
    runs.append({"round": 3, "method": "raw", "total": 1.0, "phases": {}, "ok": False})   # invalid: left out
    got = medians(runs, {"date": "2026-11-30T15:55:47", "size": 1, "db_bytes": 1063 * 2**20, "rounds": 3})
    assert got["db_mib"] == 1063 and set(got["methods"]) == {"pgferry", "pgferry_cutover", "pgcopydb"}
    assert got["methods"]["pgferry"]["median_s"] == 28.0
    assert got["methods"]["pgferry_cutover"] == {**got["methods"]["pgferry_cutover"], "median_s": 19.0,
                                                 "min_s": 18.0, "max_s": 20.0, "n": 3}
    assert got["methods"]["pgferry"]["paired"] == 2.0      # rounds: 1.5, 2.0, 2.0


def test_plot_draws_both_pngs_from_the_committed_measurements(tmp_path):
    require("matplotlib")
    from bench.plot import load, plot
    measured = sorted((ROOT / "bench" / "measured").glob("*.medians.json"))
    assert len(measured) >= 2
    for path in measured:
        assert {"pgferry", "pgferry_cutover", "pgcopydb"} <= set(json.loads(path.read_text())["methods"])
    written = plot(load([str(p) for p in measured]), tmp_path)
    assert sorted(p.name for p in written) == ["bench_seconds_per_gb.png", "bench_time_per_method.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
