"""PostgreSQL's own regression database, built from Debian's packages and cached between runs.

Built once per installed server version (`make regress-deps` installs what this needs):
1. `apt-get source postgresql-15` (the installed version's source when the archive serves it, else the
   nearest 15.x it serves: recorded in the cache's meta.json) gives `src/test/regress`;
2. gcc compiles `regress.so` and contrib/spi's `refint.so`/`autoinc.so` against postgresql-server-dev-15;
3. `pg_regress` (postgresql-server-dev-15's pgxs copy) runs the parallel schedule against a throwaway
   cluster on a free port, a few connections at a time; tests that fail against the packaged server are
   recorded, not fatal (the database is the product here, not the test verdicts);
4. the stopped cluster's data directory is archived, and `regression` is dumped with `pg_dump -Fc`;
   pg_regress's verdicts are kept next to them (pg_regression.out, pg_regression.diffs).

Later runs unpack the archived cluster instead of rebuilding. The cluster itself is what is cached, not
only the dump: a database restored from pg_dump is no longer the regression database (dropped columns
are gone, inheritance children get pg_dump's column order, stale materialized views come back
refreshed), and those shapes are what the tests are for. The dump is kept next to it for tools that
want one (`regression.dump`, with the roles it needs in `globals.sql`).

Everything lives in `.cache/regression/` (git-ignored; PGFERRY_REGRESSION_CACHE overrides) and every
external command has a timeout.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

# The one import of the cluster helpers (moving to localstack/pgcluster.py): change it here only.
from localstack.pgcluster import PgCluster, pg_bindir
from localstack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("PGFERRY_REGRESSION_CACHE", ROOT / ".cache" / "regression"))
PG_MAJOR = 15
SOURCE_PACKAGE = f"postgresql-{PG_MAJOR}"
PG_REGRESS = Path(f"/usr/lib/postgresql/{PG_MAJOR}/lib/pgxs/src/test/regress/pg_regress")
MAX_CONNECTIONS = 3       # pg_regress's parallel groups, a few at a time: the machine is shared
BUILD_SETTINGS = {        # the throwaway cluster pg_regress runs against
    "max_prepared_transactions": "10",  # prepared_xacts runs its real variant
    "min_wal_size": "32MB", "max_wal_size": "64MB",  # keeps the archived data directory small
}
APT_TIMEOUT_S = 600
COMPILE_TIMEOUT_S = 300
PG_REGRESS_TIMEOUT_S = 1200
DUMP_TIMEOUT_S = 600
LOCK_TIMEOUT_S = 1800     # another process building the same cache

# What pg_dump | pg_restore of the regression database cannot reproduce: (kind, object) -> why.
# `kind`/`object` are those of tests/support/compare.py's Difference. Objects whose test may not run to
# that point against a given server minor are listed too (the test asserts differences are a subset).
_INHERITED_ORDER = ("column order of an inheritance child: a column added to the parent after the child "
                    "existed (ALTER TABLE parent* ADD COLUMN, or a renamed/re-added column) is appended at "
                    "the end of the child; pg_dump writes CREATE TABLE child (...) INHERITS (parent), which "
                    "puts the inherited columns first (pg_dump keeps the order only in --binary-upgrade mode)")
_ATTACHED_ORDER = ("column order of a table attached later with ALTER TABLE ... INHERIT: it was created with "
                   "its own column order; pg_dump writes it as CREATE TABLE ... INHERITS, where the parent's "
                   "columns come first")
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    **{("table", f"public.{t}_star"): _INHERITED_ORDER for t in "bcdef"},
    ("table", "public.renamecolumnchild"): _INHERITED_ORDER,
    ("table", "public.renamecolumnanother"): _INHERITED_ORDER,
    ("table", "public.test_type_diff_c"): _INHERITED_ORDER,
    ("table", "public.gtestxx_4"): _ATTACHED_ORDER,
    ("schema", "TABLE public.gtestxx_4"): _ATTACHED_ORDER + " (its generated column b is local, so it is listed)",
    ("table", "public.test_type_diff2_c1"): _ATTACHED_ORDER,
    ("table", "public.test_type_diff2_c2"): _ATTACHED_ORDER,
    ("schema", "TABLE public.test_type_diff2_c1"): _ATTACHED_ORDER + " (columns are local: listed in the parent's order)",
    ("schema", "TABLE public.test_type_diff2_c2"): _ATTACHED_ORDER + " (columns are local: listed in the parent's order)",
    ("table", "public.mvtest_bb"): ("a stale materialized view: its base data changed after its last REFRESH; "
                                    "pg_dump does not dump a materialized view's rows, pg_restore runs "
                                    "REFRESH, so the target holds the current result (41), the source the "
                                    "old one (28)"),
}


@dataclass(frozen=True)
class RegressionFixture:
    key: str                  # cache folder name: the server version it was built for
    directory: Path
    server_version: str       # installed postgresql-15 (binaries the cluster ran on)
    source_version: str       # postgresql-15 source package whose src/test/regress was run
    tests_summary: str        # pg_regress's verdict line, e.g. "9 of 217 tests failed."
    failed_tests: tuple[str, ...]
    build_seconds: float

    @property
    def cluster_archive(self) -> Path:
        return self.directory / "cluster.tar"

    @property
    def dump(self) -> Path:
        return self.directory / "regression.dump"

    @property
    def globals_sql(self) -> Path:
        return self.directory / "globals.sql"


def _run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _as_postgres(cmd: list[str]) -> list[str]:
    # the server runs as `postgres` when we are root (initdb refuses root): so must pg_regress, whose
    # server-side COPY writes into its output folder
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _chown_postgres(path: Path):
    if os.geteuid() == 0:
        _run(["chown", "-R", "postgres:postgres", str(path)], 120, check=True)


# -- versions ----------------------------------------------------------------------------------------------
def installed_version() -> str:
    r = _run(["dpkg-query", "-W", "-f", "${Version}", SOURCE_PACKAGE], 30)
    if r.returncode != 0 or not r.stdout:
        raise RuntimeError(f"{SOURCE_PACKAGE} is not installed: run `make setup`")
    return r.stdout.strip()


def _minor(version: str) -> int:
    m = re.match(rf"{PG_MAJOR}\.(\d+)", version)
    return int(m.group(1)) if m else -1


def served_source_versions() -> list[str]:
    r = _run(["apt-cache", "showsrc", SOURCE_PACKAGE], 60)
    versions = sorted(set(re.findall(r"^Version: (\S+)$", r.stdout, re.M)), key=_minor)
    if not versions:
        raise RuntimeError(f"no source package {SOURCE_PACKAGE} known to apt: run `make regress-deps` "
                           "(adds a deb-src line and runs apt-get update)")
    return versions


def candidate_sources(installed: str, served: list[str]) -> list[str]:
    """The installed version first, then the others nearest to it (the newer of two equally near first)."""
    return sorted(served, key=lambda v: (v != installed, abs(_minor(v) - _minor(installed)), -_minor(v)))


def fetch_source(workdir: Path, installed: str) -> tuple[str, Path]:
    """apt-get source of the nearest served version; the archive index may list versions it does not
    serve (404), so each candidate is tried in turn."""
    errors = []
    for version in candidate_sources(installed, served_source_versions()):
        target = workdir / f"source-{version}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        r = _run(["apt-get", "source", "-qq", f"{SOURCE_PACKAGE}={version}"], APT_TIMEOUT_S, cwd=target)
        trees = [p for p in target.iterdir() if p.is_dir() and (p / "src/test/regress/parallel_schedule").exists()]
        if r.returncode == 0 and trees:
            return version, trees[0]
        errors.append(f"{version}: {(r.stderr.strip().splitlines() or ['no source tree'])[-1]}")
        shutil.rmtree(target, ignore_errors=True)
    raise RuntimeError("apt-get source found no usable postgresql-15 source: " + "; ".join(errors))


# -- build -------------------------------------------------------------------------------------------------
def compile_modules(source_tree: Path, libdir: Path):
    """regress.so and the contrib/spi modules the tests load, against the installed server's headers."""
    include = _run([str(pg_bindir() / "pg_config"), "--includedir-server"], 30, check=True).stdout.strip()
    libdir.mkdir(parents=True, exist_ok=True)
    for c_file in ("src/test/regress/regress.c", "contrib/spi/refint.c", "contrib/spi/autoinc.c"):
        out = libdir / (Path(c_file).stem + ".so")
        r = _run(["gcc", "-O2", "-fPIC", "-shared", f"-I{include}", "-o", str(out), str(source_tree / c_file)],
                 COMPILE_TIMEOUT_S)
        if r.returncode != 0:
            raise RuntimeError(f"gcc could not compile {c_file}: {r.stderr.strip()[-2000:]}")


def run_pg_regress(cluster: PgCluster, source_tree: Path, libdir: Path, outdir: Path) -> tuple[str, list[str]]:
    regress = source_tree / "src/test/regress"
    outdir.mkdir(parents=True, exist_ok=True)
    _chown_postgres(outdir)
    _chown_postgres(libdir)
    r = _run(_as_postgres([str(PG_REGRESS), f"--inputdir={regress}", f"--bindir={pg_bindir()}",
                           f"--dlpath={libdir}", f"--outputdir={outdir}", "--host=127.0.0.1",
                           f"--port={cluster.port}", "--user=postgres", f"--schedule={regress}/parallel_schedule",
                           f"--max-connections={MAX_CONNECTIONS}"]), PG_REGRESS_TIMEOUT_S, cwd=outdir)
    summary = re.search(r"(\d+ of \d+ tests failed\.|All \d+ tests passed\.)", r.stdout)
    if not summary:
        raise RuntimeError(f"pg_regress did not finish (exit {r.returncode}): {(r.stdout + r.stderr)[-2000:]}")
    failed = re.findall(r"^\s*(?:test\s+)?(\S+)\s+\.\.\. FAILED", r.stdout, re.M)
    if not cluster.query("SELECT 1 FROM pg_database WHERE datname = 'regression'"):
        raise RuntimeError("pg_regress left no `regression` database")
    return summary.group(1), failed


def _dump(cluster: PgCluster, directory: Path):
    _run([str(pg_bindir() / "pg_dump"), "-Fc", "-f", str(directory / "regression.dump"),
          "-d", cluster.dsn("regression")], DUMP_TIMEOUT_S, check=True)
    _run([str(pg_bindir() / "pg_dumpall"), "--globals-only", "-f", str(directory / "globals.sql"),
          "-d", cluster.dsn()], DUMP_TIMEOUT_S, check=True)


def _stop_clean(cluster: PgCluster):
    # a clean shutdown, so the archived data directory starts without crash recovery
    _run(_as_postgres([str(pg_bindir() / "pg_ctl"), "-D", str(cluster.datadir), "-m", "fast", "-w", "-t", "120",
                       "stop"]), 180)


def build(directory: Path, installed: str) -> RegressionFixture:
    """Everything from scratch into `directory`: build/ keeps the source tree and the compiled modules
    (the regression database's C functions name build/lib/*.so by absolute path, so it must stay)."""
    started = time.monotonic()
    work = directory / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source_version, tree = fetch_source(work, installed)
    libdir = work / "lib"
    compile_modules(tree, libdir)
    cluster = PgCluster(work / "clusters", "regression", settings=BUILD_SETTINGS)
    try:
        cluster.start()
        summary, failed = run_pg_regress(cluster, tree, libdir, work / "pg_regress")
        _dump(cluster, work)
        cluster.execute("CHECKPOINT")
        _stop_clean(cluster)
        with tarfile.open(work / "cluster.tar", "w") as tar:  # the data directory as pg_regress left it
            tar.add(cluster.datadir, arcname="regression")
    finally:
        cluster.destroy()
    for name in ("regression.out", "regression.diffs"):
        if (work / "pg_regress" / name).exists():
            shutil.copy(work / "pg_regress" / name, directory / f"pg_{name}")
    fixture = RegressionFixture(key=installed, directory=directory, server_version=installed,
                                source_version=source_version, tests_summary=summary,
                                failed_tests=tuple(failed), build_seconds=round(time.monotonic() - started, 1))
    for name in ("cluster.tar", "regression.dump", "globals.sql"):
        os.replace(work / name, directory / name)
    (directory / "meta.json").write_text(json.dumps(
        {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
         for k, v in fixture.__dict__.items()}, indent=2))
    return fixture


def _load(directory: Path) -> RegressionFixture | None:
    meta = directory / "meta.json"
    if not meta.exists() or not (directory / "cluster.tar").exists() or not (directory / "build/lib/regress.so").exists():
        return None
    data = json.loads(meta.read_text())
    data["directory"] = directory
    data["failed_tests"] = tuple(data["failed_tests"])
    return RegressionFixture(**data)


def _check_server_can_read(directory: Path):
    # the server (the `postgres` user when we are root) reads the test data and loads build/lib/*.so from here
    if os.geteuid() == 0 and _run(["runuser", "-u", "postgres", "--", "test", "-x", str(directory)], 30).returncode:
        raise RuntimeError(f"the postgres OS user cannot enter {directory} (a parent folder is private): set "
                           "PGFERRY_REGRESSION_CACHE to a folder it can read, e.g. /var/tmp/pgferry-regression")


def ensure_fixture(cache: Path = CACHE) -> RegressionFixture:
    """The cached regression database for the installed server, built first when there is none."""
    installed = installed_version()
    directory = cache / re.sub(r"[^A-Za-z0-9.+-]", "_", installed)
    found = _load(directory)
    if found:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    _check_server_can_read(directory)
    with open(directory / ".lock", "w") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:  # another test process may be building it right now
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{directory} stayed locked for {LOCK_TIMEOUT_S} s")
                time.sleep(1)
        return _load(directory) or build(directory, installed)


# -- use ---------------------------------------------------------------------------------------------------
def start_cluster(fixture: RegressionFixture, root: Path, name: str = "regression") -> PgCluster:
    """The regression cluster unpacked under `root` and started on a free port; its `regression`
    database is exactly what pg_regress left. The caller destroys it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    datadir = root / name
    shutil.rmtree(datadir, ignore_errors=True)
    with tarfile.open(fixture.cluster_archive) as tar:
        for member in tar.getmembers():  # the archive's one top folder, renamed to `name`
            member.name = name + member.name[len("regression"):]
            tar.extract(member, root, filter="tar")
    port = free_port()
    with open(datadir / "postgresql.auto.conf", "a") as conf:  # later lines win
        conf.write(f"port = {port}\nunix_socket_directories = '{root}'\n")
    (datadir / "postmaster.pid").unlink(missing_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    _chown_postgres(datadir)
    (root / f"{name}.port").write_text(str(port))
    cluster = PgCluster(root, name, port=port)
    cluster.start()
    cluster.wait_ready()
    return cluster


def create_roles(fixture: RegressionFixture, cluster: PgCluster):
    """The roles and tablespaces the regression database refers to, on another cluster; those that exist
    already (postgres, or from an earlier test) are left as they are."""
    from psycopg import errors
    statements = [s for s in fixture.globals_sql.read_text().split(";\n")
                  if s.strip() and not s.lstrip().startswith(("--", "SET", "\\"))]
    with cluster.connect() as conn:
        for stmt in statements:
            stmt = "\n".join(l for l in stmt.splitlines() if not l.startswith(("--", "\\"))).strip()
            if not stmt:
                continue
            try:
                conn.execute(stmt)
            except (errors.DuplicateObject, errors.UndefinedObject):
                pass


def restore_dump(fixture: RegressionFixture, cluster: PgCluster, dbname: str):
    """The cached pg_dump of `regression` restored into a new database `dbname` (roles created first)."""
    create_roles(fixture, cluster)
    cluster.recreate_db(dbname)
    r = _run([str(pg_bindir() / "pg_restore"), "-d", cluster.dsn(dbname), str(fixture.dump)], DUMP_TIMEOUT_S)
    if r.returncode != 0:
        raise RuntimeError(f"pg_restore of {fixture.dump} failed: {r.stderr[-2000:]}")


def dump_and_restore(source: PgCluster, source_db: str, target: PgCluster, target_db: str,
                     bindir: Path | None = None) -> float:
    """The baseline: `pg_dump -Fc | pg_restore` from source_db into a new target_db (by the tools of `bindir`,
    default pg_bindir()); returns seconds."""
    bindir = bindir or pg_bindir()
    target.recreate_db(target_db)
    started = time.monotonic()
    dump = subprocess.Popen([str(bindir / "pg_dump"), "-Fc", "-d", source.dsn(source_db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    restore = subprocess.run([str(bindir / "pg_restore"), "-d", target.dsn(target_db)], stdin=dump.stdout,
                             capture_output=True, text=True, timeout=DUMP_TIMEOUT_S)
    dump.stdout.close()
    _, dump_err = dump.communicate(timeout=DUMP_TIMEOUT_S)
    if dump.returncode != 0 or restore.returncode != 0:
        raise RuntimeError(f"pg_dump | pg_restore failed: {dump_err.decode()[-1000:]} {restore.stderr[-2000:]}")
    return time.monotonic() - started
