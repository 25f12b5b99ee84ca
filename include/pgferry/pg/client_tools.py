"""Which pg_dump/pg_restore a run uses: the pair at least as new as both servers.

pg_dump refuses a server newer than itself, and a run dumps both sides (structure and plan_lanes dump the
source, validate dumps the source and the target), so the pair must be at least as new as the newer
server. Of those installed, the lowest such major is used: the closest to the servers, whose SQL an older
target knows best. pg_restore comes from the same directory (it reads only archives of its own pg_dump or
older).

Where pgferry looks, in this order (an equal major is taken from the first place that has it):
- PG_BINDIR: one directory or several separated by `:`;
- Debian's /usr/lib/postgresql/<major>/bin (postgresql-client-<major>);
- the project's cached tools, <project>/.cache/pg/<major>/bin (`make pg-majors`; PGFERRY_PG_CACHE moves it);
- pg_dump on PATH.
Every task picks again from the run's server versions (precheck's state), so each worker uses what it
has; precheck refuses a run that no pair here can serve.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from include.pgferry.pg.catalog import major_label, major_version, version_label

TOOLS = ("pg_dump", "pg_restore")
PROJECT_CACHE = Path(__file__).resolve().parents[3] / ".cache" / "pg"
CACHE_ENV = "PGFERRY_PG_CACHE"


@dataclass(frozen=True)
class ClientTools:
    major: int      # as pg/catalog.major_version counts: 1700 for 17, 906 for 9.6
    bindir: Path

    def path(self, name: str) -> str:
        return str(self.bindir / name)

    @property
    def label(self) -> str:
        return f"pg_dump {major_label(self.major * 100)} ({self.bindir})"

    def serves(self, *server_versions: int) -> bool:
        return all(self.major >= major_version(v) for v in server_versions)


class NoClientTools(RuntimeError):
    """No pg_dump/pg_restore here is new enough for the run's servers: installing one is the fix."""


def candidate_dirs() -> list[Path]:
    dirs = [Path(d) for d in os.environ.get("PG_BINDIR", "").split(":") if d]
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    dirs += sorted(debian, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    cache = Path(os.environ.get(CACHE_ENV, PROJECT_CACHE))
    dirs += sorted(cache.glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).parent)
    return dirs


def unusable_bindirs() -> list[str]:
    """PG_BINDIR directories without both tools: a typo there would otherwise go unseen."""
    return [d for d in os.environ.get("PG_BINDIR", "").split(":")
            if d and not all(os.access(Path(d) / t, os.X_OK) for t in TOOLS)]


@functools.lru_cache(maxsize=64)
def _major_of(pg_dump: str) -> int | None:
    """pg_dump's major (1700, 906), or None when it does not run."""
    try:
        out = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    m = re.search(r"\)\s+(\d+)(?:\.(\d+))?", out) or re.search(r"(\d+)(?:\.(\d+))?", out)
    if not m:
        return None
    first, second = int(m.group(1)), int(m.group(2) or 0)
    return first * 100 if first >= 10 else first * 100 + second


def installed() -> list[ClientTools]:
    """Every directory with both tools, in search order, each once."""
    out, seen = [], set()
    for d in candidate_dirs():
        if not all(os.access(d / t, os.X_OK) for t in TOOLS):
            continue
        key = (d / "pg_dump").resolve()
        if key in seen:
            continue
        seen.add(key)
        major = _major_of(str(d / "pg_dump"))
        if major is not None:
            out.append(ClientTools(major, d))
    return out


def best_for(found: list[ClientTools], *server_versions: int) -> ClientTools | None:
    """The lowest major that serves every server; the first found of that major."""
    fitting = [t for t in found if t.serves(*server_versions)]
    return min(fitting, key=lambda t: t.major) if fitting else None


def missing_message(found: list[ClientTools], source_version: int, target_version: int) -> tuple[str, str]:
    """(what is wrong, what to install) when no pair serves both servers."""
    need = major_label(max(major_version(source_version), major_version(target_version)) * 100)
    newest = max(found, key=lambda t: t.major, default=None)
    have = f"the newest found is {newest.label}" if newest else \
        "none was found (PG_BINDIR, /usr/lib/postgresql/*/bin, the project's .cache/pg, PATH)"
    what = (f"no pg_dump/pg_restore on this worker can dump both the source (PostgreSQL "
            f"{version_label(source_version)}) and the target (PostgreSQL {version_label(target_version)}): "
            f"pg_dump must be at least as new as the newer server, {need}; {have}")
    fix = (f"install postgresql-client-{need} (or newer) on every worker (Debian/Ubuntu, PGDG apt repository), "
           f"or set PG_BINDIR to a directory holding pg_dump and pg_restore {need} or newer")
    return what, fix


def for_servers(source_version: int, target_version: int) -> ClientTools:
    """The pair a run's pg_dump and pg_restore calls use."""
    found = installed()
    chosen = best_for(found, source_version, target_version)
    if chosen is None:
        what, fix = missing_message(found, source_version, target_version)
        raise NoClientTools(f"{what}: {fix}")
    return chosen
