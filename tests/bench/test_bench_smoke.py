"""Keeps bench/ from rotting: the dataset generator at a tiny size, the raw copy method, and the
verification (equal copy -> ok; a changed row -> FAIL) on the session's two throwaway clusters."""
from __future__ import annotations

import subprocess

import pytest

from bench import make_dataset, methods, verify
from bench.run import summarize
from localstack.pgcluster import pg_bindir

pytestmark = pytest.mark.integration

DB = "bench_smoke"


def test_dataset_copy_and_verify(pg_source, pg_target, tmp_path):
    bindir = pg_bindir()
    make_dataset.build(pg_source.dsn(), DB, 0.01, bindir, log=lambda m: None)
    assert make_dataset.has_dataset(pg_source.dsn(), DB, 0.01)
    fp_src = verify.fingerprint(pg_source.dsn(DB))
    assert {"public.pgbench_accounts", "public.audit_log", "public.attachments", "public.events_2023q1",
            "public.daily_sales"} <= set(fp_src["tables"])
    assert fp_src["tables"]["public.pgbench_accounts"][1] == 100000
    assert any(o.startswith("trigger orders orders_audit") for o in fp_src["objects"])

    pg_target.recreate_db(DB)
    dump = tmp_path / "schema.dump"
    subprocess.run([str(bindir / "pg_dump"), "-Fc", "--section=pre-data", "--section=post-data", "-f", str(dump),
                    pg_source.uri(DB)], check=True)
    ctx = methods.Ctx(pg_source.uri(DB), pg_target.uri(DB), bindir, tmp_path, tmp_path / "raw.log", 2,
                      schema_dump=dump)
    phases = dict(methods.raw(ctx, {}))
    assert set(phases) == {"pre", "copy", "post"}
    verdict, diffs = verify.compare(fp_src, verify.fingerprint(pg_target.dsn(DB)))
    assert verdict == "ok", diffs

    pg_target.execute("UPDATE customers SET full_name = full_name || 'x' WHERE id = 7", dbname=DB)
    verdict, diffs = verify.compare(fp_src, verify.fingerprint(pg_target.dsn(DB)))
    assert verdict == "FAIL" and any("public.customers" in d for d in diffs)
    pg_target.execute(f'DROP DATABASE "{DB}" WITH (FORCE)')
    pg_source.execute(f'DROP DATABASE "{DB}" WITH (FORCE)')


def test_summary_table():
    runs = [{"round": r, "method": m, "total": t, "phases": ph, "ok": True, "verify": "ok", "src_cpu": 1.0,
             "tgt_cpu": 2.0, "extra": {}, "activity": {"copy_processes": [{"hwm": 200 * 2**20}]}}
            for r in (1, 2) for m, t, ph in (("pgcopydb", 10.0, {"total": 10.0}),
                                             ("pgferry", 12.0, {"total": 12.0, "cutover": 9.0, "copy_lane": 5.0}))]
    text = summarize(runs, {"db_bytes": 2**30, "heap_bytes": 2**29, "index_bytes": 2**28, "rounds": 2})
    assert "pgferry ready for cutover" in text and " 0.90 " in text and " 1.20 " in text
    assert "peak RSS (VmHWM) max 200 MiB" in text


@pytest.fixture(scope="module")
def logical_dag_upstreams():
    """The logical DAG's tasks in the shape the REST API gives them (task_id, downstream_task_ids), from the
    DAG file itself: the bench follows the DAG, whatever it becomes."""
    from airflow.dag_processing.dagbag import DagBag

    from localstack import ROOT
    dag = DagBag(str(ROOT / "dags" / "postgres_logical_migration.py")).dags[methods.DAG_ID]
    return methods.upstreams_of([{"task_id": t.task_id, "downstream_task_ids": sorted(t.downstream_task_ids)}
                                 for t in dag.tasks])


def _at(s):
    return f"2026-12-07T00:00:{s:06.3f}Z"


def _ti(task, queued, start, end, map_index=-1):
    return {"task_id": task, "map_index": map_index, "queued_when": _at(queued), "start_date": _at(start),
            "end_date": _at(end)}


def test_hop_costs_sum_the_waits_along_the_critical_path_only(logical_dag_upstreams):
    run = {"queued_at": _at(0)}
    tis = [_ti("precheck", 0.5, 1.0, 2.0), _ti("structure", 2.5, 3.0, 4.0), _ti("plan_lanes", 2.5, 3.0, 3.5),
           # the lanes wait for structure (4.0): the first is queued 0.2 s after it, started 0.3 s after that
           _ti("copy_lane", 4.2, 4.5, 10.0, 0), _ti("copy_lane", 4.3, 4.9, 10.5, 1),
           _ti("watch_lanes", 4.2, 4.5, 5.5), _ti("sequences", 4.2, 4.5, 5.0), _ti("large_objects", 4.2, 4.5, 5.0),
           _ti("triggers_and_foreign_keys", 11.0, 11.5, 12.0), _ti("compare_rows", 12.4, 12.6, 14.0),
           _ti("finalize", 12.5, 13.0, 13.5),
           # validate waits for compare_rows, the last to end (14.0)
           _ti("validate", 14.1, 14.4, 15.0)]
    scheduling, starting, path = methods.hop_costs(run, tis, logical_dag_upstreams)
    # finalize ended before compare_rows, the sensor and sequences before the lanes: not on the path
    assert path == ["precheck", "structure", "copy_lane", "triggers_and_foreign_keys", "compare_rows", "validate"]
    # ready -> queued: structure 0.5, lanes 0.2, keys 0.5, compare_rows 0.4, validate 0.1
    assert round(scheduling, 3) == 1.7
    # queued -> started: 0.5, 0.3, 0.5, 0.2, 0.3
    assert round(starting, 3) == 1.8
    # when finalize ends last instead, the path goes through it
    tis[-2] = _ti("finalize", 12.5, 13.0, 14.05)
    assert methods.hop_costs(run, tis, logical_dag_upstreams)[2][-2] == "finalize"


def test_critical_path_follows_the_dag_not_the_task_names():
    span = {"a": (0.0, 1.0), "b": (1.5, 3.0), "c": (1.5, 2.0), "d": (3.5, 4.0)}
    up = methods.upstreams_of([{"task_id": "a", "downstream_task_ids": ["b", "c"]},
                               {"task_id": "b", "downstream_task_ids": ["d"]},
                               {"task_id": "c", "downstream_task_ids": ["d"]}, {"task_id": "d"}])
    assert up == {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert methods.critical_path(span, up) == ["a", "b", "d"]
    assert methods.critical_path({}, up) == []


def test_summary_names_the_critical_path():
    runs = [{"round": r, "method": "pgferry", "total": 12.0, "phases": {"total": 12.0, "cutover": 9.0}, "ok": True,
             "verify": "ok", "src_cpu": 1.0, "tgt_cpu": 2.0, "extra": {"critical_path": ["precheck", "validate"]},
             "activity": {}} for r in (1, 2)]
    text = summarize(runs, {"db_bytes": 2**30, "heap_bytes": 2**29, "index_bytes": 2**28, "rounds": 2})
    assert "critical path (read from the DAG), 2 run(s): precheck > validate" in text


def test_checksum_costs_read_every_table_both_ways(pg_source):
    """bench/checksum_costs.py reads each table with the row-hash query and as a COPY stream: the rows it
    counts and the bytes it streams are the tables', a table without binary I/O streams as text."""
    from bench import checksum_costs
    db = "bench_checksums"
    pg_source.recreate_db(db)
    pg_source.execute("CREATE TABLE wide (id int PRIMARY KEY, note text, at timestamptz);"
                      "INSERT INTO wide SELECT g, repeat('x', g % 50), '2026-01-01'::timestamptz + g * interval '1 s'"
                      " FROM generate_series(1, 5000) g;"
                      "CREATE TABLE grants (id int, acl aclitem[]);"
                      "INSERT INTO grants VALUES (1, '{postgres=r/postgres}'), (2, NULL)", dbname=db)
    result = checksum_costs.measure(pg_source.dsn(db), repeat=1)
    assert set(result["tables"]) == {"public.wide", "public.grants"}
    assert result["tables"]["public.wide"]["rows"] == 5000
    assert result["tables"]["public.grants"]["rows"] == 2
    assert result["tables"]["public.grants"]["stream_bytes"] == len("1\t{postgres=r/postgres}\n2\t\\N\n")
    assert result["totals"]["rows"] == 5002
    assert result["row_hash"] == "columns"
    assert "in flight, sha256" in checksum_costs.report(result)
    pg_source.execute(f'DROP DATABASE "{db}" WITH (FORCE)')


def test_checksum_costs_compare_both_designs_per_gib():
    from bench.checksum_costs import GIB, costs_per_gib
    totals = {"bytes": 2 * GIB, "rows": 10, "row_hash_server_s": 4.0, "record_hash_server_s": 5.0,
              "copy_out_server_s": 6.0,
              "copy_out_client_s": 8.0, "stream_sha256_client_s": 2.0, "stream_crc32_client_s": 1.0}
    p = costs_per_gib(totals)
    assert p["today_both_servers_s"] == 4.0                 # 2 s per GiB on each of two servers
    assert p["read_back_s"] == 7.0                          # the target's COPY out and its reading, per GiB
    assert p["in_flight_sha256_s"] == 2 * 1.0 + 7.0         # hashed by the lane, and again on the way back
    assert p["in_flight_crc32_s"] == 2 * 0.5 + 7.0
    assert p["ratio_in_flight_sha256_to_today"] == 9.0 / 4.0
