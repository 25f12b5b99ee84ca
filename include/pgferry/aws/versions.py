"""Engine version rules: which RDS PostgreSQL sources the seed accepts, which Aurora version to restore to."""
from __future__ import annotations

import re
from collections.abc import Iterable

MIN_SOURCE_VERSION = (9, 6, 1)  # the seed: "made from an RDS instance running PostgreSQL 9.6.1 or later"
SOURCE_ENGINE = "postgres"
TARGET_ENGINE = "aurora-postgresql"


def parse_version(version: str) -> tuple[int, ...]:
    """'9.6.12' -> (9, 6, 12); '16.1-R2' or '11.22-rds.20240418' -> (16, 1) / (11, 22).

    Compared as integer tuples, so 9.6.12 > 9.6.1 and 10.1 > 9.6.24, which string order gets wrong.
    """
    match = re.match(r"^\s*(\d+(?:\.\d+)*)", version or "")
    if not match:
        raise ValueError(f"not an engine version: {version!r}")
    return tuple(int(part) for part in match.group(1).split("."))


def major_version(version: str) -> tuple[int, ...]:
    """PostgreSQL's major version: 9.6 before release 10, the first number from 10 on."""
    parts = parse_version(version)
    return parts[:2] if parts[0] < 10 else parts[:1]


def source_engine_problems(engine: str, version: str) -> list[str]:
    problems = []
    if engine != SOURCE_ENGINE:
        problems.append(
            f"source engine is {engine!r}: only RDS PostgreSQL instances (engine {SOURCE_ENGINE!r}) "
            f"can be migrated to Aurora PostgreSQL by snapshot")
    try:
        parsed = parse_version(version)
    except ValueError:
        return problems + [f"source engine version {version!r} cannot be read as a version number"]
    if engine == SOURCE_ENGINE and parsed < MIN_SOURCE_VERSION:
        problems.append(
            f"source runs PostgreSQL {version}: the snapshot must come from PostgreSQL "
            f"{'.'.join(map(str, MIN_SOURCE_VERSION))} or later; upgrade the RDS instance first")
    return problems


def choose_aurora_version(source_version: str, aurora_versions: Iterable[str]) -> str | None:
    """The Aurora PostgreSQL version to restore a `source_version` snapshot to.

    Aurora takes a snapshot of the same major version at the same or a later minor; of those, the
    closest to the source, so the restore changes as little as possible (upgrade later, deliberately).
    """
    source = parse_version(source_version)
    source_major = major_version(source_version)
    candidates = sorted(
        (v for v in aurora_versions if major_version(v) == source_major and parse_version(v) >= source),
        key=parse_version,
    )
    return candidates[0] if candidates else None
