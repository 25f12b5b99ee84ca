"""migrations.yaml: logical migrations declared once, each with a low-traffic window.

Read at DAG parse time, so it only reads the file: no database, no network. Every mistake is reported
with the path of the field that holds it (e.g. `migrations[0].window.timezone`), all at once.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from include.pgferry.schedule.window import Window, parse_length, validate_cron, validate_timezone

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_FILE = ROOT / "migrations.yaml"
FILE_ENV = "PGFERRY_MIGRATIONS_FILE"     # another file, e.g. for tests or per deployment
NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MIGRATION_TYPES = ("structure", "data")
KNOWN_KEYS = {"name", "description", "source_conn_id", "target_conn_id", "objects", "rename", "exclude",
              "migration_types", "parallelism", "keep_owners", "target_free_bytes", "window"}
WINDOW_KEYS = {"cron", "timezone", "length"}


class DeclarationError(ValueError):
    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class DeclaredMigration:
    name: str
    window: Window
    params: dict                  # defaults for the logical migration's Params
    description: str = ""
    tags: tuple = field(default=())

    @property
    def dag_id(self) -> str:
        return f"scheduled_migration_{self.name}"


def migrations_file() -> Path:
    return Path(os.environ.get(FILE_ENV) or DEFAULT_FILE)


def load(path: Path | None = None) -> list[DeclaredMigration]:
    """Every declared migration; an absent file declares none. Raises DeclarationError naming each bad field."""
    path = Path(path) if path else migrations_file()
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise DeclarationError(path, [f"not valid YAML: {e}"]) from None
    return parse(data, path)


def parse(data, path: Path = DEFAULT_FILE) -> list[DeclaredMigration]:
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("migrations", []), list):
        raise DeclarationError(path, ["the file must be a mapping with a list under `migrations`"])
    problems: list[str] = []
    out: list[DeclaredMigration] = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("migrations") or []):
        where = f"migrations[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        if isinstance(entry.get("name"), str):
            where = f"migrations[{i}] ({entry['name']})"
        found = _parse_entry(entry, where, problems)
        if found is None:
            continue
        if found.name in seen:
            problems.append(f"{where}.name: {found.name!r} is declared twice")
            continue
        seen.add(found.name)
        out.append(found)
    if problems:
        raise DeclarationError(path, problems)
    return out


def _str_list(value, where, problems) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}: must be a list of non-empty strings")
        return None
    return value


def _parse_entry(e: dict, where: str, problems: list[str]) -> DeclaredMigration | None:
    before = len(problems)
    for key in sorted(set(e) - KNOWN_KEYS):
        problems.append(f"{where}.{key}: unknown field (known: {', '.join(sorted(KNOWN_KEYS))})")
    name = e.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(f"{where}.name: {name!r} must be 1-50 lower-case letters, digits or _ starting with a letter")
    params: dict = {}
    for key in ("source_conn_id", "target_conn_id"):
        v = e.get(key)
        if not isinstance(v, str) or not v.strip():
            problems.append(f"{where}.{key}: required, the id of an Airflow connection (type postgres)")
        else:
            params[key] = v
    for key in ("objects", "exclude"):
        v = _str_list(e.get(key), f"{where}.{key}", problems)
        if v is not None:
            params[key] = v
    rename = e.get("rename") or {}
    if not isinstance(rename, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                                for k, v in rename.items()):
        problems.append(f"{where}.rename: must map source names to new names (strings)")
    else:
        params["rename"] = rename
    types = e.get("migration_types", list(MIGRATION_TYPES))
    if not isinstance(types, list) or not types or any(t not in MIGRATION_TYPES for t in types):
        problems.append(f"{where}.migration_types: a non-empty list of {' and/or '.join(MIGRATION_TYPES)}")
    else:
        params["migration_types"] = list(dict.fromkeys(types))
    par = e.get("parallelism", 2)
    if isinstance(par, bool) or not isinstance(par, int) or not 1 <= par <= 32:
        problems.append(f"{where}.parallelism: {par!r} must be a whole number from 1 to 32")
    else:
        params["parallelism"] = par
    if "keep_owners" in e:
        if not isinstance(e["keep_owners"], bool):
            problems.append(f"{where}.keep_owners: must be true or false")
        else:
            params["keep_owners"] = e["keep_owners"]
    if e.get("target_free_bytes") is not None:
        v = e["target_free_bytes"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            problems.append(f"{where}.target_free_bytes: must be a number of bytes")
        else:
            params["target_free_bytes"] = v
    window = _parse_window(e.get("window"), f"{where}.window", problems)
    if len(problems) > before or window is None:
        return None
    return DeclaredMigration(name=name, window=window, params=params, description=str(e.get("description") or ""))


def _parse_window(w, where: str, problems: list[str]) -> Window | None:
    if not isinstance(w, dict):
        problems.append(f"{where}: required, with cron, timezone and length (e.g. cron: '30 2 * * *', "
                        f"timezone: Asia/Shanghai, length: 3h)")
        return None
    before = len(problems)
    for key in sorted(set(w) - WINDOW_KEYS):
        problems.append(f"{where}.{key}: unknown field (known: cron, timezone, length)")
    for key in sorted(WINDOW_KEYS - set(w)):
        problems.append(f"{where}.{key}: required")
    if len(problems) > before:
        return None
    checks = (("cron", lambda: validate_cron(str(w["cron"]))),
              ("timezone", lambda: validate_timezone(str(w["timezone"]))),
              ("length", lambda: parse_length(w["length"])))
    for key, run in checks:
        try:
            run()
        except ValueError as e:
            problems.append(f"{where}.{key}: {e}")
    if len(problems) > before:
        return None
    return Window(cron=str(w["cron"]), timezone=str(w["timezone"]), length=parse_length(w["length"]))
