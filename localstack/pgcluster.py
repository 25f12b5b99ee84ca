"""Throwaway PostgreSQL clusters for tests and the local stack.

initdb/pg_ctl from Debian's `postgresql` package (15 here), or of another major given as `major`: Debian's
/usr/lib/postgresql/<major>/bin when installed, else the pinned servers `make pg-majors` unpacks into
.cache/pg/ (localstack/pg_majors.py). When running as root the cluster runs as the `postgres` OS user,
because initdb refuses root.
"""
from __future__ import annotations

import contextlib
import functools
import glob
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from localstack import pg_majors
from localstack.ports import free_port

DEFAULT_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "50",
    "shared_buffers": "128MB",
    "fsync": "off",  # throwaway clusters: durability buys nothing in tests
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_wal_size": "1GB",
    "lc_messages": "'C'",
    "log_min_messages": "warning",
    "max_parallel_maintenance_workers": "2",
}


def pg_bindir(major: int | None = None) -> Path:
    """Directory of initdb/pg_ctl. Of `major`: Debian's, else the pinned one in .cache/pg/. Otherwise the
    first PG_BINDIR directory (a `:`-separated list, as pgferry reads it) with pg_ctl, else the newest Debian
    install, else PATH."""
    if major is not None:
        return _major_bindir(major)
    for d in filter(None, os.environ.get("PG_BINDIR", "").split(":")):
        if (Path(d) / "pg_ctl").exists():
            return Path(d)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    if which:
        return Path(which).resolve().parent
    raise RuntimeError("pg_ctl not found: install Debian's `postgresql` package (make setup does)")


def _major_bindir(major: int) -> Path:
    debian = Path(f"/usr/lib/postgresql/{major}/bin")
    if (debian / "pg_ctl").exists():
        return debian
    cached = pg_majors.bindir(major)
    if cached is not None and (cached / "pg_ctl").exists():
        return cached
    raise RuntimeError(f"no PostgreSQL {major} server here: `make pg-majors` installs the pinned ones "
                       f"({', '.join(str(m) for m, p in sorted(pg_majors.PINS.items()) if p.has_server)})")


def _as_cluster_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PgCluster:
    root: Path
    name: str
    port: int = 0
    settings: dict = field(default_factory=dict)
    major: int | None = None    # None: the default server (pg_bindir())

    def __post_init__(self):
        self.root = Path(self.root)
        self.datadir = self.root / self.name
        self.logfile = self.root / f"{self.name}.log"
        self.portfile = self.root / f"{self.name}.port"
        if not self.port:
            self.port = int(self.portfile.read_text()) if self.portfile.exists() else free_port()

    @functools.cached_property
    def bindir(self) -> Path:
        """initdb/pg_ctl of this cluster's major, looked up when first needed (stopping nothing needs none)."""
        return pg_bindir(self.major)

    # -- lifecycle -------------------------------------------------------------------------
    def _chown(self, path: Path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def init(self):
        if (self.datadir / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)
        self.datadir.mkdir(exist_ok=True)
        self._chown(self.datadir)
        subprocess.run(
            _as_cluster_user([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                              "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
            check=True, capture_output=True, text=True, timeout=180)
        conf = {**DEFAULT_SETTINGS, "port": str(self.port),
                "unix_socket_directories": f"'{self.root}'", **self.settings}
        with open(self.datadir / "postgresql.auto.conf", "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        self.portfile.write_text(str(self.port))

    def running(self) -> bool:
        r = subprocess.run(_as_cluster_user([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"]),
                           capture_output=True, timeout=30)
        return r.returncode == 0

    def start(self) -> "PgCluster":
        self.init()
        if not self.running():
            if not self.logfile.exists():
                self.logfile.touch()
                self._chown(self.logfile)
            subprocess.run(
                _as_cluster_user([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                                  "-w", "-t", "60", "start"]),
                check=True, capture_output=True, text=True, timeout=90)
        return self

    def stop(self):
        if (self.datadir / "postmaster.pid").exists():
            subprocess.run(_as_cluster_user([str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                                             "-m", "immediate", "-w", "stop"]), capture_output=True,
                           timeout=90)

    def restart(self, mode: str = "fast"):
        """`pg_ctl restart -m mode`: fast ends every session (FATAL 57P01) and checkpoints; immediate as a crash."""
        subprocess.run(
            _as_cluster_user([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                              "-m", mode, "-w", "-t", "60", "restart"]),
            check=True, capture_output=True, text=True, timeout=150)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        for f in (self.logfile, self.portfile):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()

    # -- access ----------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={user}"

    def uri(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", user: str = "postgres", autocommit: bool = True):
        return psycopg.connect(self.dsn(dbname, user), autocommit=autocommit)

    def execute(self, sql, dbname: str = "postgres", params=None):
        with self.connect(dbname) as conn:
            return conn.execute(sql, params).fetchall() if params is not None else conn.execute(sql)

    def query(self, sql, dbname: str = "postgres", params=None) -> list[tuple]:
        with self.connect(dbname) as conn:
            return conn.execute(sql, params).fetchall()

    def recreate_db(self, dbname: str):
        from psycopg import sql
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))

    def run_sql_file(self, path: Path | str, dbname: str):
        # psql of the default install: it runs a file on any major, and the pinned servers come without it
        subprocess.run([str(pg_bindir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn(dbname),
                        "-f", str(path)], check=True, capture_output=True, text=True, timeout=1800)

    def wait_ready(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect():
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
