"""migrations.yaml: logical migrations declared once, each with a low-traffic window.

Read at DAG parse time, so it only reads the file: no database, no network. Every mistake is reported
with the path of the field that holds it (e.g. `migrations[0].window.timezone`), all at once.

An entry's migration fields are validated (jsonschema) against the logical migration's own Params
(`migration_params()`), so a declaration accepts exactly what the trigger form accepts; the window, written
`length: 3h` in the file, is checked for a real cron and time zone, then against the `window` Param.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from include.pgferry.migration_params import migration_params, window_params
from include.pgferry.schedule.window import Window, parse_length, validate_cron, validate_timezone

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_FILE = ROOT / "migrations.yaml"
FILE_ENV = "PGFERRY_MIGRATIONS_FILE"     # another file, e.g. for tests or per deployment
NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
REQUIRED = ("name", "source_conn_id", "target_conn_id", "window")
NAME_SCHEMA = {"type": "string", "pattern": NAME.pattern}
# the window as written in the file: `length` is 3h, 90m or minutes (the Param holds length_minutes)
WINDOW_SCHEMA = {"type": "object", "required": ["cron", "timezone", "length"],
                 "properties": {"cron": {"type": "string"}, "timezone": {"type": "string"},
                                "length": {"type": ["string", "integer"]}},
                 "additionalProperties": False}
REQUIRED_HINTS = {
    "name": "1-50 lower-case letters, digits or _ starting with a letter",
    "window": "with cron, timezone and length (e.g. cron: '30 2 * * *', timezone: Asia/Shanghai, length: 3h)",
}
JSON_TYPES = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false", int: "a number",
              float: "a number", type(None): "empty"}


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


def entry_schema() -> dict:
    """One migrations.yaml entry: its name and description, the logical migration's Params, a window."""
    params = migration_params()
    return {"type": "object", "required": list(REQUIRED), "additionalProperties": False,
            "properties": {"name": NAME_SCHEMA, "description": {"type": "string"},
                           **{key: param.schema for key, param in params.items()}, "window": WINDOW_SCHEMA}}


def describe(schema: dict) -> str:
    """What a JSON schema accepts, in words, for error messages."""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    nullable = "null" in types
    types = [t for t in types if t != "null"]
    kind = types[0] if len(types) == 1 else None
    if kind == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        text = ("a whole number" + (f" from {lo} to {hi}" if lo is not None and hi is not None
                                    else f" of at least {lo}" if lo is not None
                                    else f" of at most {hi}" if hi is not None else ""))
    elif kind == "boolean":
        text = "true or false"
    elif kind == "string":
        n = schema.get("minLength", 0)
        text = ("a non-empty string" if n == 1 else f"a string of at least {n} characters" if n > 1
                else "a string")
    elif kind == "array":
        items = schema.get("items") or {}
        if items.get("enum"):
            text = (("a non-empty list" if schema.get("minItems") else "a list") + " of "
                    + " and/or ".join(items["enum"]) + (", each once" if schema.get("uniqueItems") else ""))
        else:
            text = "a list of " + describe(items).removeprefix("a ").removeprefix("an ") + "s"
    elif kind == "object":
        values = schema.get("additionalProperties")
        text = ("a mapping of source names to new names (non-empty strings)" if isinstance(values, dict)
                else "a mapping")
    else:
        text = " or ".join(types) or "anything"
    return f"empty or {text}" if nullable else text


def _type_name(value) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _entry_problems(value: dict, schema: dict, where: str) -> list[str]:
    """One message per field of the entry that breaks `schema`: unknown fields first, then in schema order."""
    found: dict[str, str] = {}
    unknown: list[str] = []
    for error in jsonschema.Draft202012Validator(schema).iter_errors(value):
        path = list(error.path)
        if not path:
            if error.validator == "required":
                for key in error.validator_value:
                    if key not in error.instance:
                        hint = REQUIRED_HINTS.get(key) or _param_hint(key)
                        found.setdefault(key, f"{where}.{key}: required, {hint}")
            elif error.validator == "additionalProperties":
                known = ", ".join(schema["properties"])
                for key in sorted(set(error.instance) - set(schema["properties"])):
                    unknown.append(f"{where}.{key}: unknown field (known: {known})")
            else:
                found.setdefault("", f"{where}: must be {describe(schema)}, not {_type_name(value)}")
            continue
        key = str(path[0])
        if key in found or any(k.startswith(f"{key}.") for k in found):
            continue
        field_schema, field_value = schema["properties"][key], value[key]
        if key == "window" and isinstance(field_value, dict):
            found.update(dict(zip(*_window_problems(field_value, f"{where}.window"))))
        elif key == "name":
            found[key] = f"{where}.name: {field_value!r} must be {REQUIRED_HINTS['name']}"
        elif len(path) == 1 and error.validator == "type":
            found[key] = f"{where}.{key}: must be {describe(field_schema)}, not {_type_name(field_value)}"
        else:
            found[key] = f"{where}.{key}: {field_value!r} must be {describe(field_schema)}"
    rank = {k: i for i, k in enumerate(schema["properties"])}
    return unknown + [found[k] for k in sorted(found, key=lambda k: rank.get(k.split(".")[0], -1))]


def _param_hint(key: str) -> str:
    description = migration_params()[key].description or ""
    return description.split(";")[0].split(". ")[0].rstrip(".")


def _window_problems(w: dict, where: str) -> tuple[list[str], list[str]]:
    """(keys, messages) for the window's own schema; [] when its shape is right."""
    keys, messages = [], []
    for error in jsonschema.Draft202012Validator(WINDOW_SCHEMA).iter_errors(w):
        path = list(error.path)
        if error.validator == "required" and not path:
            for key in error.validator_value:
                if key not in w:
                    keys.append(f"window.{key}")
                    messages.append(f"{where}.{key}: required")
        elif error.validator == "additionalProperties" and not path:
            for key in sorted(set(w) - set(WINDOW_SCHEMA["properties"])):
                keys.append(f"window.{key}")
                messages.append(f"{where}.{key}: unknown field (known: cron, timezone, length)")
        elif path:
            key = str(path[0])
            keys.append(f"window.{key}")
            messages.append(f"{where}.{key}: must be {describe(WINDOW_SCHEMA['properties'][key])}, "
                            f"not {_type_name(w[key])}")
    return keys, messages


def _parse_window(w: dict, where: str, problems: list[str]) -> Window | None:
    """The window's meaning (a real cron, time zone and length), then its Param form against the Param."""
    before = len(problems)
    checks = (("cron", lambda: validate_cron(w["cron"])),
              ("timezone", lambda: validate_timezone(w["timezone"])),
              ("length", lambda: parse_length(w["length"])))
    for key, run in checks:
        try:
            run()
        except ValueError as e:
            problems.append(f"{where}.{key}: {e}")
    if len(problems) > before:
        return None
    window = Window(cron=w["cron"], timezone=w["timezone"], length=parse_length(w["length"]))
    param_schema = window_params(window.as_param())["window"].schema
    for error in jsonschema.Draft202012Validator(param_schema).iter_errors(window.as_param()):
        key = ".".join(str(p) for p in error.path)
        shown = w.get("length") if key == "length_minutes" else error.instance
        sub = param_schema["properties"].get(key, param_schema)
        problems.append(f"{where}.{'length' if key == 'length_minutes' else key}: {shown!r} must be "
                        f"{describe(sub)}{' minutes' if key == 'length_minutes' else ''} (the window Param)")
    return None if len(problems) > before else window


def _parse_entry(e: dict, where: str, problems: list[str]) -> DeclaredMigration | None:
    schema = entry_schema()
    # an empty YAML value (`objects:`) means "not given" wherever the Param does not itself accept null
    e = {k: v for k, v in e.items()
         if v is not None or "null" in ((schema["properties"].get(k) or {}).get("type") or [])}
    found = _entry_problems(e, schema, where)
    problems.extend(found)
    window_shape_ok = "window" in e and not any(p.startswith(f"{where}.window") for p in found)
    window = _parse_window(e["window"], f"{where}.window", problems) if window_shape_ok else None
    if found or window is None:
        return None
    params = {key: e[key] for key in migration_params() if key in e}
    return DeclaredMigration(name=e["name"], window=window, params=params, description=e.get("description", ""))
