"""Run a pgferry DAG in this process, as `make demo` and the DAG tests do: load it from dags/, run it with
dag.test(), read what its tasks returned.

Airflow must be configured first (localstack.airflow_env.configure + migrate_db).
"""
from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager

from localstack import ROOT


class DagNotFound(LookupError):
    pass


def load_dag(dag_id: str):
    """The DAG `dag_id` from the project's dags/; any import error in dags/ is raised, naming the file."""
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(str(ROOT / "dags"))
    if bag.import_errors:
        raise DagNotFound(f"dags/ does not import cleanly: {bag.import_errors}")
    if dag_id not in bag.dags:
        raise DagNotFound(f"no DAG {dag_id} in dags/ (found {sorted(bag.dags)})")
    return bag.dags[dag_id]


def run_dag(dag, conf: dict):
    """dag.test() does not raise when a task fails: return the run and {task_id[map]: state}."""
    dr = dag.test(run_conf=conf)
    states = {}
    for ti in dr.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
    return dr, states


def xcom_value(dr, task_id: str, map_index: int = -1, key: str = "return_value"):
    """What `task_id` (at `map_index`) returned in run `dr` (or pushed under `key`), or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dr.dag_id, task_ids=task_id,
                                                  key=key, map_indexes=map_index)).all()
        return XComModel.deserialize_value(rows[0]) if rows else None


LOG_DIR = ROOT / ".stack" / "logs"


def log_path(dag_id: str, log_dir=None):
    """`.stack/logs/<dag_id>-<UTC timestamp>.log`, the file a demo run's task logs go to."""
    import time
    from pathlib import Path
    directory = Path(log_dir) if log_dir is not None else LOG_DIR
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{dag_id}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.log"


@contextmanager
def output_to(path):
    """Everything this process and its children write to stdout and stderr (Airflow's task logs, pg_dump's
    messages) goes to `path` while the block runs: the file descriptors themselves are redirected, so
    loggers that hold the original streams and subprocesses follow too."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(path, "ab", buffering=0) as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield path
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except (OSError, ValueError):
                        pass
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")


def task_log_tail(path, task_key: str, lines: int = 40) -> list[str]:
    """The last `lines` lines that dag.test() logged for `task_key` (`task_id` or `task_id[map_index]`) in the
    log file `path`: from its last "[DAG TEST] starting" line on, up to the next task's start. When the file
    holds no such section (the run failed before the task started), its last `lines` lines."""
    from pathlib import Path
    text = [_ANSI.sub("", line) for line in Path(path).read_text(errors="replace").splitlines()]
    task_id, _, index = task_key.partition("[")
    index = index.rstrip("]") or "-1"
    start = end = None
    for n, line in enumerate(text):
        found = _START.search(line) or _END.search(line)
        if found is None:
            continue
        ours = (found.group(1), found.group(2)) == (task_id, index)
        if ours and found.re is _START:
            start, end = n, len(text)
        elif start is not None and end == len(text):
            end = n + 1 if ours else n          # its own end line, or the next task's start
    section = text[start:end] if start is not None else text
    return section[-lines:]


def failed_tasks(states: dict[str, str]) -> list[str]:
    """The tasks that failed themselves first (not those that only followed an upstream failure)."""
    failed = [t for t, s in states.items() if s == "failed"]
    return failed or [t for t, s in states.items() if s not in ("success", "skipped")]


def print_failure(log, states: dict[str, str], lines: int = 40) -> None:
    failed = failed_tasks(states)
    print(f"tasks not successful: {', '.join(failed) or '(none recorded)'}")
    key = failed[0] if failed else ""        # no task failed: the run's own last lines
    print(f"--- last {lines} lines of {key or 'the run'}'s log ({log}) ---")
    for line in task_log_tail(log, key, lines):
        print("  " + line)
    print("---")
