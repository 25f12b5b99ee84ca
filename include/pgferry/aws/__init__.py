"""The AWS snapshot path: RDS PostgreSQL -> Aurora PostgreSQL (dags/rds_snapshot_to_aurora.py).

One concern per module: `identifiers`, `versions`, `encryption`, `storage` (pure rules); `states`
(which RDS states end a wait, and the advice); `settings` (the requests, and how they compare with
what exists); `plan` (the typed request and plan); `hooks` (hook fields, `find_*`, `create_or_find`,
"is it ours", reuse by content); `operators` (create-or-find RDS operators), `sensors`, `triggers`
(waits); `endpoints` (what the migration hands over); `params` (the DAG's Params). The DAG's TaskFlow
tasks, one module each: `precheck` (its Airflow edge), `skips` (snapshot_needed, copy_needed),
`publish_endpoints`, `cleanup` (clean_up_snapshots: deleting pgferry's own snapshots).
The precheck's checks are in include/pgferry/checks/aws.py, on the framework both DAGs share.
"""
