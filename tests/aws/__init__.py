"""Tests of the AWS snapshot path (rds_snapshot_to_aurora)."""
