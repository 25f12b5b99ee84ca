"""`make demo`: the local stack, a sample shop database, and both DAGs run for real.

1. starts the stack (.stack/: source and target PostgreSQL, moto for AWS, an Airflow home),
2. loads tools/sample_db.sql into the source database `shop` and gives the target an empty `shop`,
3. runs postgres_logical_migration source -> target and prints its validation report,
4. runs rds_snapshot_to_aurora against the moto server and prints the new cluster's endpoints.

Only the summaries are printed: each run's task logs go to .stack/logs/<dag>-<timestamp>.log, whose path is
printed; a task that fails has the tail of its log printed as well.
"""
from __future__ import annotations

import sys
import time

from localstack import ROOT, stack

RULE = "=" * 100


def run_logical_migration() -> dict:
    from include.pgferry.report.text import render_report
    from localstack.dagrun import load_dag, log_path, output_to, print_failure, run_dag, xcom_value

    log = log_path("postgres_logical_migration")
    print(f"running postgres_logical_migration (shop -> shop, parallelism 2); task logs: {log}")
    t0 = time.monotonic()
    try:
        with output_to(log):
            dag = load_dag("postgres_logical_migration")
            dr, states = run_dag(dag, {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target",
                                       "parallelism": 2})
            report = xcom_value(dr, "validate")
    except Exception as exc:
        print(f"postgres_logical_migration could not run: {exc!r}")
        print_failure(log, {})
        return {"state": "failed", "seconds": time.monotonic() - t0, "report": None, "log": log}
    took = time.monotonic() - t0
    print(RULE)
    if report:
        print(render_report(report))
    print(f"postgres_logical_migration: run {dr.state} in {took:.1f} s")
    if dr.state != "success":
        print_failure(log, states)
    print(RULE + "\n")
    return {"state": str(dr.state), "seconds": took, "report": report, "log": log}


def main() -> int:
    t0 = time.monotonic()
    state = stack.start()
    src, tgt = stack.clusters(state)
    print("loading the sample database into the source (tools/sample_db.sql) ...")
    src.recreate_db("shop")
    src.run_sql_file(ROOT / "tools" / "sample_db.sql", "shop")
    tgt.recreate_db("shop")
    logical = run_logical_migration()

    from localstack.dagrun import log_path
    from tools.demo_rds import run_demo
    rds_log = log_path("rds_snapshot_to_aurora")
    rds = run_demo(f"http://127.0.0.1:{state['moto_port']}", log=rds_log)

    ok = logical["state"] == "success" and (rds or {}).get("state", "success") == "success"
    print(f"\ndemo {'finished' if ok else 'FAILED'} in {time.monotonic() - t0:.0f} s. Task logs:")
    print(f"  {logical['log']}\n  {rds_log}")
    print("Next:")
    print("  Airflow UI on this stack:  make airflow   (http://127.0.0.1:8080, login printed there)")
    print("  Stop everything:           make stop")
    print("  The guide:                 docs/ (make docs builds it into .site/)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
