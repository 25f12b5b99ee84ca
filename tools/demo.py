"""`make demo`: the local stack, a sample shop database, and both DAGs run for real.

1. starts the stack (.stack/: source and target PostgreSQL, moto for AWS, an Airflow home),
2. loads tools/sample_db.sql into the source database `shop` and gives the target an empty `shop`,
3. runs postgres_logical_migration source -> target and prints its validation report,
4. runs rds_snapshot_to_aurora against the moto server and prints the new cluster's endpoints.
"""
from __future__ import annotations

import sys
import time

from localstack import ROOT, stack


def run_logical_migration() -> dict:
    from include.pgferry.report.text import render_report
    from localstack.dagrun import load_dag, run_dag, xcom_value

    dag = load_dag("postgres_logical_migration")
    t0 = time.monotonic()
    dr, states = run_dag(dag, {"source_conn_id": "pgferry_source", "target_conn_id": "pgferry_target",
                               "parallelism": 2})
    took = time.monotonic() - t0
    report = xcom_value(dr, "validate")
    print("\n" + "=" * 100)
    if report:
        print(render_report(report))
    print(f"postgres_logical_migration: run {dr.state} in {took:.1f} s")
    if dr.state != "success":
        failed = [t for t, s in states.items() if s != "success"]
        print(f"tasks not successful: {', '.join(failed)}; see the log above")
    print("=" * 100 + "\n")
    return {"state": str(dr.state), "seconds": took, "report": report}


def main() -> int:
    t0 = time.monotonic()
    state = stack.start()
    src, tgt = stack.clusters(state)
    print("loading the sample database into the source (tools/sample_db.sql) ...")
    src.recreate_db("shop")
    src.run_sql_file(ROOT / "tools" / "sample_db.sql", "shop")
    tgt.recreate_db("shop")
    logical = run_logical_migration()

    from tools.demo_rds import run_demo
    rds = run_demo(f"http://127.0.0.1:{state['moto_port']}")

    print(f"demo finished in {time.monotonic() - t0:.0f} s.")
    print("  Airflow UI on this stack:  make airflow   (http://127.0.0.1:8080, login printed there)")
    print("  Stop everything:           make stop")
    ok = logical["state"] == "success" and (rds or {}).get("state", "success") == "success"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
