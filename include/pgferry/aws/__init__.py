"""The AWS snapshot path: RDS PostgreSQL -> Aurora PostgreSQL (dags/rds_snapshot_to_aurora.py).

One concern per module: `identifiers`, `versions`, `encryption`, `storage` (pure rules);
`precheck` (reads AWS, checks every rule, returns the plan); `operators` (create-if-absent RDS
operators), `sensors`, `triggers` (waits); `endpoints` (what the migration hands over); `hooks`
(provider hooks built on first use, so importing this package stays cheap at DAG parse time).
"""
