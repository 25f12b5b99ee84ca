"""Migrations declared once (migrations.yaml) and run in a low-traffic window.

declared: reading and validating the YAML (no database, no network: it runs at DAG parse time)
window:   the window model and the guard that refuses a run that would not fit or started outside it
throughput: the load-time estimate from the throughput earlier runs measured
"""
