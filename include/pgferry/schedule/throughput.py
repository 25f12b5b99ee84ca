"""How long a load will take: source size over the throughput earlier runs measured.

The measurement is the whole run (precheck to validate: structure, copy, indexes, keys), because the window
must hold all of it, not only the COPY streams. Small runs are dominated by fixed costs (task start-up,
pg_dump of the schema) and would make the rate look tiny, so they do not update it.
"""
from __future__ import annotations

import logging
from datetime import timedelta

VARIABLE = "pgferry_throughput_mb_s"
DEFAULT_MB_S = 20.0          # conservative: one COPY stream on a small server does ~30 MB/s before indexes
FIXED_OVERHEAD = timedelta(minutes=2)   # task start-up, schema dump and restore, validate
MIN_MEASURED_BYTES = 64_000_000


def estimate(source_bytes: int, mb_per_s: float | None) -> timedelta:
    rate = mb_per_s if mb_per_s and mb_per_s > 0 else DEFAULT_MB_S
    return FIXED_OVERHEAD + timedelta(seconds=source_bytes / 1e6 / rate)


def measured_mb_s(source_bytes: int, elapsed_seconds: float) -> float | None:
    """The run's effective rate, or None when the run was too small to say anything."""
    if source_bytes < MIN_MEASURED_BYTES or elapsed_seconds <= 0:
        return None
    return round(source_bytes / 1e6 / elapsed_seconds, 2)


def read_variable() -> float | None:
    """The rate the last measured run stored (an Airflow Variable), inside a task."""
    from airflow.sdk import Variable
    try:
        value = Variable.get(VARIABLE, default=None)
        return float(value) if value not in (None, "") else None
    except Exception as e:   # an unreadable rate must not block a migration: the default is conservative
        logging.getLogger("pgferry").warning("cannot read Variable %s (%s): using %s MB/s", VARIABLE, e, DEFAULT_MB_S)
        return None


def record(source_bytes: int, elapsed_seconds: float) -> float | None:
    """Store this run's rate for the next estimates (through the task SDK, not the metadata DB)."""
    rate = measured_mb_s(source_bytes, elapsed_seconds)
    if rate is not None:
        from airflow.sdk import Variable
        try:
            Variable.set(VARIABLE, str(rate), description="MB/s of the last pgferry logical migration "
                                                          "(source size / whole run), for window estimates")
        except Exception as e:   # the migration itself succeeded: a lost measurement only costs accuracy
            logging.getLogger("pgferry").warning("cannot store Variable %s (%s)", VARIABLE, e)
            return None
    return rate
