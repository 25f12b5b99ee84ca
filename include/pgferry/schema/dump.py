"""pg_dump / pg_restore driving: one schema-only archive of the chosen objects, cut into phases.

Each task that needs DDL dumps the source again (schema only: well under a second for thousands of
objects). That keeps tasks independent of each other's local files; the write freeze the migration
demands also freezes the DDL, and validate compares object counts at the end.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from include.pgferry.connections import PgEndpoint
from include.pgferry.names import quote_ident

# Where each pg_dump TOC entry is restored. Everything pre-data goes into `structure`; of post-data:
STRUCTURE_EXTRA = {"RULE", "POLICY"}                 # no effect on COPY: created with the structure
FINAL = {"TRIGGER", "FK CONSTRAINT", "ROW SECURITY", "PUBLICATION", "PUBLICATION TABLE",
         "PUBLICATION TABLES IN SCHEMA", "SUBSCRIPTION", "COMMENT", "SECURITY LABEL", "ACL"}
# the rest of post-data (INDEX, CONSTRAINT, CHECK CONSTRAINT, INDEX ATTACH, STATISTICS, ...) is `indexes`

# event triggers: the very last DDL, at the end of finalize, or they would fire on pgferry's own DDL
PHASES = ("structure", "indexes", "final", "event_triggers")

_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")


@dataclass(frozen=True)
class TocEntry:
    line: str
    dump_id: int
    catalog_oid: int
    object_oid: int
    desc: str
    rest: str         # schema, tag and owner as pg_restore prints them
    section: str


_KNOWN_DESCS = sorted([
    "FK CONSTRAINT", "CHECK CONSTRAINT", "MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "SEQUENCE OWNED BY",
    "SEQUENCE SET", "ROW SECURITY", "TABLE ATTACH", "INDEX ATTACH", "TABLE DATA", "DEFAULT ACL",
    "EVENT TRIGGER", "FOREIGN TABLE", "FOREIGN DATA WRAPPER", "FOREIGN SERVER", "USER MAPPING",
    "PROCEDURAL LANGUAGE", "SHELL TYPE", "OPERATOR CLASS", "OPERATOR FAMILY", "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "PUBLICATION TABLES IN SCHEMA",
    "PUBLICATION TABLE", "SECURITY LABEL", "LARGE OBJECT", "BLOB METADATA", "ACCESS METHOD", "DATABASE PROPERTIES",
], key=len, reverse=True)


def _split_desc(text: str) -> tuple[str, str]:
    for d in _KNOWN_DESCS:
        if text.startswith(d + " "):
            return d, text[len(d) + 1:]
    head, _, rest = text.partition(" ")
    return head, rest


def tool(name: str) -> str:
    """pg_dump/pg_restore: PG_BINDIR first, then the newest Debian install, then PATH."""
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]) / name)
    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                         key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0, reverse=True)
    for c in candidates:
        if c.exists():
            return str(c)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install PostgreSQL client binaries (Debian package postgresql)")
    return found


def tool_major_version(name: str = "pg_dump") -> int:
    out = subprocess.run([tool(name), "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+)(?:\.(\d+))?", out)
    return int(m.group(1))


def _run(cmd: list[str], env: dict | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


class SchemaArchive:
    """A schema-only custom-format dump of the chosen schemas, minus unchosen relations and functions."""

    def __init__(self, source: PgEndpoint, plan: dict, keep_owners: bool = True):
        self.plan = plan
        self._dir = tempfile.mkdtemp(prefix="pgferry-schema-")
        self.path = os.path.join(self._dir, "schema.dump")
        cmd = [tool("pg_dump"), "--format=custom", "--schema-only", "--no-subscriptions", "--no-publications",
               f"--file={self.path}"]
        if not keep_owners:
            cmd += ["--no-owner", "--no-privileges"]
        if not plan.get("whole_database"):
            for s in plan["schemas"]:
                cmd.append(f"--schema={quote_ident(s['source'])}")   # quoted patterns match literally
        for schema, name in plan["excluded_relations"]:
            cmd.append(f"--exclude-table={quote_ident(schema)}.{quote_ident(name)}")
        _run(cmd, source.libpq_env())
        self.entries = self._read_toc()

    def _read_toc(self) -> list[TocEntry]:
        section_of = {}
        for section in ("pre-data", "post-data"):
            for line in _run([tool("pg_restore"), "--list", f"--section={section}", self.path]).splitlines():
                m = _LINE.match(line)
                if m:
                    section_of[int(m.group(1))] = section
        excluded_funcs = {f["oid"] for f in self.plan["excluded_functions"]}
        excluded_tags = {(f["schema"], f"FUNCTION {f['name']}(") for f in self.plan["excluded_functions"]}
        entries = []
        for line in _run([tool("pg_restore"), "--list", self.path]).splitlines():
            m = _LINE.match(line)
            if not m:
                continue
            desc, rest = _split_desc(m.group(4))
            entry = TocEntry(line, int(m.group(1)), int(m.group(2)), int(m.group(3)), desc, rest,
                             section_of.get(int(m.group(1)), "none"))
            if entry.object_oid in excluded_funcs:
                continue
            if desc in ("COMMENT", "ACL", "SECURITY LABEL") and any(
                    rest.startswith(f"{s} {t}") for s, t in excluded_tags):
                continue
            entries.append(entry)
        return entries

    def phase_of(self, e: TocEntry) -> str | None:
        if e.section == "pre-data":
            return "structure"
        if e.section != "post-data":
            return None
        if e.desc == "RULE" and " _RETURN " in f" {e.rest} ":
            return "indexes"   # a view's real body, when it needs a primary key to exist (GROUP BY pk)
        if e.desc in STRUCTURE_EXTRA:
            return "structure"
        if e.desc == "EVENT TRIGGER" or (e.desc == "COMMENT" and e.rest.startswith("- EVENT TRIGGER ")):
            return "event_triggers"
        if e.desc in FINAL:
            return "final"
        return "indexes"

    def phase_entries(self, phase: str) -> list[TocEntry]:
        chosen = [e for e in self.entries if self.phase_of(e) == phase]
        if phase == "structure":   # post-data rules and policies after the pre-data they depend on
            chosen.sort(key=lambda e: e.section != "pre-data")
        return chosen

    def sql(self, entries: list[TocEntry]) -> str:
        if not entries:
            return ""
        listfile = os.path.join(self._dir, "phase.list")
        with open(listfile, "w") as f:
            f.write("\n".join(e.line for e in entries) + "\n")
        return _run([tool("pg_restore"), f"--use-list={listfile}", "--file=-", self.path])

    def close(self):
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
