"""Loads airflow_settings.yaml (astro CLI format) into an Airflow metadata database.

Nothing outside the astro CLI reads that file, so this converts it to the JSON that
`airflow connections import`, `airflow pools import` and `airflow variables import` take.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from localstack import ROOT


def read_settings(path: Path = ROOT / "airflow_settings.yaml", overrides: dict | None = None) -> dict:
    """{connections: {id: fields}, pools: {name: {...}}, variables: {name: value}}; `overrides` maps a
    conn_id to fields (host, port, extra keys) that replace the file's."""
    data = (yaml.safe_load(path.read_text()) or {}).get("airflow", {})
    conns = {}
    for c in data.get("connections") or []:
        fields = {"conn_type": c["conn_type"]}
        for src, dst in (("conn_host", "host"), ("conn_port", "port"), ("conn_schema", "schema"),
                         ("conn_login", "login"), ("conn_password", "password")):
            if c.get(src) not in (None, ""):
                fields[dst] = c[src]
        extra = dict(c.get("conn_extra") or {})
        for k, v in ((overrides or {}).get(c["conn_id"]) or {}).items():
            if k in ("host", "port", "schema", "login"):
                fields[k] = v
            else:
                extra[k] = v
        if extra:
            fields["extra"] = json.dumps(extra)
        conns[c["conn_id"]] = fields
    pools = {p["pool_name"]: {"slots": p["pool_slot"], "description": p.get("pool_description", ""),
                              "include_deferred": False} for p in data.get("pools") or []}
    variables = {v["variable_name"]: v["variable_value"] for v in data.get("variables") or []}
    return {"connections": conns, "pools": pools, "variables": variables}


def import_settings(settings: dict, env: dict | None = None):
    airflow = str(Path(sys.executable).parent / "airflow")
    env = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory() as d:
        for kind, payload, extra in (("connections", settings["connections"], ["--overwrite"]),
                                     ("pools", settings["pools"], []),
                                     ("variables", settings["variables"], [])):
            if not payload:
                continue
            f = Path(d) / f"{kind}.json"
            f.write_text(json.dumps(payload))
            proc = subprocess.run([airflow, kind, "import", str(f), *extra], capture_output=True, text=True, env=env,
                                  timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(f"airflow {kind} import failed: {proc.stderr.strip()[-2000:]}")
