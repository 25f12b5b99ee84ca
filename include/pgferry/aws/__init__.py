"""The AWS snapshot path: RDS PostgreSQL -> Aurora PostgreSQL (dags/rds_snapshot_to_aurora.py).

One concern per module: `identifiers`, `versions`, `encryption`, `storage` (pure rules); `plan`
(the typed request and plan); `hooks` (hooks, `find_*`, `create_or_find`, "is it ours");
`operators` (create-or-find RDS operators on the provider's AwsBaseOperator), `sensors`,
`triggers` (waits); `endpoints` (what the migration hands over). The precheck's checks are in
include/pgferry/checks/aws.py, on the framework both DAGs share.
"""
