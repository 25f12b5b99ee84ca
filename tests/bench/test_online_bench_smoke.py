"""Keeps bench/online.py from rotting: the online benchmark end to end on a tiny dataset (its own two
clusters with wal_level logical, a real Airflow, a pgbench writer, the approval through the REST API), and
its arithmetic on made-up samples. No times are asserted: only that the numbers are printed and sane."""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from bench import online


@pytest.mark.integration
@pytest.mark.dagrun
def test_online_benchmark_end_to_end_on_a_tiny_dataset(tmp_path, capsys):
    # the offline run's ratio is covered below on made-up numbers: here it would add a third DAG run's time
    # the clusters' directory must be reachable by the postgres OS user (pytest's tmp_path is not)
    workdir = Path(tempfile.mkdtemp(prefix="pgferry-bench-online-"))
    workdir.chmod(0o755)
    try:
        rc = online.main(["--size", "0.01", "--rate", "20", "--step-rates", "30", "--step-seconds", "5",
                          "--settle-seconds", "1", "--no-offline", "--timeout", "600",
                          "--workdir", str(workdir), "--results", str(tmp_path / "results"), "--clean"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = capsys.readouterr().out
    assert rc == 0, out
    downtime = re.search(r"downtime, freeze_source start -> validate end\s+([\d.]+) s  goal 15 s", out)
    assert downtime and float(downtime.group(1)) > 0, out
    assert re.search(r"of which\s+freeze_source=[\d.]+ .*validate=[\d.]+", out), out
    # how fast the apply is depends on the machine's load (a 5 s step at 30 tx/s may fall behind on a busy
    # one): the summary must state it, as a number or as "-" with the reason, never crash on it
    rate = re.search(r"highest writer rate the apply keeps up with, tx/s\s+(\d+|-)  = .*; (.+)", out)
    assert rate and (rate.group(1) == "-") == rate.group(2).startswith("not even 30 tx/s"), out
    changes = re.search(r"apply throughput, row changes/s\s+(\d+|-)  ", out)
    assert changes, out
    assert re.search(r"online run verify\s+ok", out), out


def _samples(lags, txs, t0=1000.0, wal_per_s=10_000):
    return [{"t": t0 + i, "lag": lag, "insert": i * wal_per_s, "tx": tx} for i, (lag, tx) in enumerate(zip(lags, txs))]


def test_a_step_is_kept_up_with_while_the_lag_stays_bounded():
    flat = _samples([5000, 90_000, 4000, 80_000, 6000, 70_000, 5000, 90_000, 3000], range(0, 900, 100))
    step = online.judge_step(flat, 1000, 1008)
    assert step["kept_up"] and step["applied_tx_per_s"] == 100.0
    growing = _samples([0, 1 << 20, 2 << 20, 3 << 20, 4 << 20, 5 << 20, 6 << 20, 7 << 20, 8 << 20], range(9))
    assert online.judge_step(growing, 1000, 1008)["kept_up"] is False
    # a lag within bounds, but the apply does 100 of the writer's 120 tx/s: it falls behind, only slowly
    assert online.judge_step(flat, 1000, 1008, writer_tps=120.0)["kept_up"] is False
    assert online.judge_step(flat, 1000, 1008, writer_tps=105.0)["kept_up"]


def test_drain_rate_and_the_summary_with_the_offline_ratio():
    # the apply starts 5000 transactions behind and drains them at 500 tx/s
    samples = _samples([50 << 20] * 3 + [30 << 20, 20 << 20, 10 << 20, 5 << 20, 1 << 19, 1 << 18],
                       [0, 0, 500, 1000, 1500, 2000, 2500, 3000, 3050])
    drain = online.drain_rate(samples, 1001)
    assert drain["tx_per_s"] == 500.0
    result = {"downtime_s": 12.0, "downtime_parts": {"freeze_source": 1.0, "validate": 6.0},
              "whole_s": 200.0, "ready_for_cutover_s": 60.0, "load_s": 40.0, "approval_wait_s": 100.0,
              "drain": drain, "verify": "ok",
              "steps": [{"rate": 250, "tps": 249.0, "applied_tx_per_s": 250.0, "kept_up": True, "lag_first_kib": 10,
                         "lag_last_kib": 12, "lag_max_kib": 90},
                        {"rate": 500, "tps": 498.0, "applied_tx_per_s": 300.0, "kept_up": False,
                         "lag_first_kib": 10, "lag_last_kib": 4000, "lag_max_kib": 4100}]}
    meta = {"db_bytes": 2**30, "size": 1, "cores": 2, "load_before": "1.00 1.00 1.00", "rate": 200}
    text = online.summarize(meta, {"total_s": 48.0, "verify": "ok"}, result)
    assert "goal 15 s: met" in text
    assert re.search(r"ratio downtime / offline whole run\s+0\.25", text), text
    assert re.search(r"apply throughput, row changes/s\s+2000 ", text), text   # 500 tx/s x 4
    assert re.search(r"keeps up with, tx/s\s+249 .*the next step, 500 tx/s, fell behind", text), text
    # a busy machine: not even the first step was kept up with, and no backlog was drained
    slow = online.summarize(meta, None, {**result, "drain": None, "steps": result["steps"][1:]})
    assert re.search(r"keeps up with, tx/s\s+-  = - row changes/s; not even 500 tx/s", slow), slow
