"""pgferry's steps run in one warm Python process, without Airflow: what each step costs by itself.

    python -m bench.profile_steps [--workdir DIR] [--db shop] [--cprofile STEP] [--parallel]

Uses the benchmark's clusters (start them with `python -m bench.run ... --keep` or let this start
them: same --workdir). The target database is recreated first. Compare with the task instance
durations of a DAG run to see what Airflow adds per task (process start, imports, XCom, scheduling).
With --parallel the copy lanes run in threads at the same time, as the mapped tasks do.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("PGFERRY_BENCH_DIR") or
                                                         Path(tempfile.gettempdir()) / "pgferry-bench"))
    ap.add_argument("--db", default="shop")
    ap.add_argument("--cprofile", default="", help="comma list of steps to run under cProfile")
    ap.add_argument("--parallel", action="store_true", help="run the copy lanes concurrently (threads)")
    a = ap.parse_args(argv)
    from bench.run import clusters, reset_target
    src, tgt = clusters(a.workdir)
    src.start()
    tgt.start()
    from localstack import airflow_env
    airflow_env.configure(Path(tempfile.mkdtemp(prefix="pgferry-profile-airflow-")))
    airflow_env.postgres_connection("bench_source", src.port, a.db)
    airflow_env.postgres_connection("bench_target", tgt.port, a.db)
    reset_target(tgt, src)
    t = time.monotonic()
    from include.pgferry.logical import (copy_lane, finalize, plan_lanes, precheck, sequences, structure,
                                         triggers_and_foreign_keys, validate)
    print(f"import include.pgferry.logical: {time.monotonic() - t:.2f} s")
    params = {"source_conn_id": "bench_source", "target_conn_id": "bench_target", "parallelism": 2,
              "migration_types": ["structure", "data"], "keep_owners": True, "objects": [], "rename": {},
              "exclude": [], "target_free_bytes": None}
    profiled = set(filter(None, a.cprofile.split(",")))
    times = {}

    def step(name, fn, *args):
        prof = cProfile.Profile() if name in profiled else None
        t0 = time.monotonic()
        if prof:
            prof.enable()
        out = fn(*args)
        if prof:
            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(25)
            print(f"--- cProfile {name} ---\n" + "\n".join(s.getvalue().splitlines()[:60]))
        times[name] = round(time.monotonic() - t0, 2)
        print(f"{name}: {times[name]:.2f} s", flush=True)
        return out

    state = step("precheck", precheck.precheck, params)
    step("structure", structure.structure, params, state)
    planned = step("plan_lanes", plan_lanes.plan_lanes, params, state)
    lanes, post_data = planned["lanes"], planned["post_data"]
    t0 = time.monotonic()
    if a.parallel:
        # one list of the run's units for all lanes, as in a DAG run: each takes the largest left when free
        run = f"profile {int(time.time())}"
        with ThreadPoolExecutor(len(lanes)) as pool:
            copies = list(pool.map(lambda il: copy_lane.copy_lane(params, il[1], run=run, lane_index=il[0]),
                                   enumerate(lanes)))
        times["copy_lanes (parallel)"] = round(time.monotonic() - t0, 2)
        print(f"copy_lanes (parallel): {times['copy_lanes (parallel)']:.2f} s")
    else:
        copies = [step(f"copy_lane[{i}]", copy_lane.copy_lane, params, lane) for i, lane in enumerate(lanes)]
    for lane in copies:
        for u in lane:
            print(f"    {u['id']}: {u['rows']} rows {u['bytes'] / 1e6:.0f} MB {u['seconds']:.1f} s "
                  f"{u.get('mb_per_s')} MB/s index {u.get('index_seconds', 0):.1f} s")
    step("sequences", sequences.sequences, params, state)
    step("triggers_and_foreign_keys", triggers_and_foreign_keys.triggers_and_foreign_keys, params, state, post_data)
    step("finalize", finalize.finalize, params, state, post_data)
    t_validate = time.monotonic()
    try:
        step("validate", validate.validate, params, state, copies)
    except RuntimeError as e:   # the report is published through the task context, absent here
        if "context" not in str(e):
            raise
        times["validate"] = round(time.monotonic() - t_validate, 2)
        print(f"validate: {times['validate']:.2f} s (checks done; publishing the report needs a task context)")
    print(json.dumps(times))


if __name__ == "__main__":
    main()
