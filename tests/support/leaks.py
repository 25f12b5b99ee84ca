"""Where a secret could leak out of an Airflow run, searched: files on disk (component and task logs), the run
as the REST API shows it (task instances with their rendered fields, every XCom value, every attempt's log, the
run itself), and the command lines of the processes that ran it.

    on_disk = files_holding(SECRET, airflow.home / "logs")
    assert on_disk.found == [] and on_disk.searched["file"] > 0        # nothing found, and something read
    in_api = api_places_holding(api, dag_id, run_id, SECRET)           # .searched: task instance, log, xcom, ...
    with CommandLineWatch([scheduler_pid, worker_pid], SECRET) as watch:   # samples until the block ends
        ... the run ...
    assert watch.holding == [] and watch.titles                          # and it did see processes
"""
from __future__ import annotations

import collections
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SAMPLE_EVERY_S = 0.1


@dataclass
class Search:
    found: list[str] = field(default_factory=list)        # where the secret is, readable
    searched: collections.Counter = field(default_factory=collections.Counter)   # kind -> how many were read


def files_holding(secret: str, *roots: Path, skip: tuple[Path, ...] = ()) -> Search:
    """Every regular file under `roots` (not under `skip`) whose bytes contain `secret`."""
    needle = secret.encode()
    result = Search()
    for root in roots:
        for path in Path(root).rglob("*"):
            if any(path.is_relative_to(s) for s in skip) or path.is_symlink() or not path.is_file():
                continue
            try:
                data = path.read_bytes()
            except OSError:       # removed meanwhile by a running part
                continue
            result.searched["file"] += 1
            if needle in data:
                result.found.append(str(path))
    return result


def api_places_holding(api, dag_id: str, run_id: str, secret: str) -> Search:
    """Where the REST API shows `secret` for this run: a task instance (rendered fields, note, ...), an
    attempt's log, an XCom value, the run. Places read like "xcom precheck[-1] return_value"."""
    result = Search()

    def look(kind: str, place: str, content):
        result.searched[kind] += 1
        if secret in (content if isinstance(content, str) else json.dumps(content, default=str)):
            result.found.append(place)

    run_path = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    look("dag run", "dag run", api.get(run_path))
    for ti in api.task_instances(dag_id, run_id):
        name = f"{ti['task_id']}[{ti['map_index']}]"
        look("task instance", f"task instance {name}", ti)
        for try_number in range(1, (ti.get("try_number") or 0) + 1):
            look("log", f"log {name} try {try_number}",
                 api.task_log(dag_id, run_id, ti["task_id"], ti["map_index"], try_number))
    for e in api.get(f"{run_path}/taskInstances/~/xcomEntries?limit=1000")["xcom_entries"]:
        key = urllib.parse.quote(e["key"], safe="")
        look("xcom", f"xcom {e['task_id']}[{e['map_index']}] {e['key']}",
             api.get(f"{run_path}/taskInstances/{e['task_id']}/xcomEntries/{key}"
                     f"?map_index={e['map_index']}&stringify=true"))
    return result


class CommandLineWatch:
    """A thread that reads the command line of every process under `root_pids` (they and all their
    descendants: executors' workers, task supervisors, tasks, the pg_dump they start) every SAMPLE_EVERY_S,
    until the `with` block ends. `holding`: the command lines that contained the secret; `titles`: every
    distinct command line seen (so a test can show what was watched)."""

    def __init__(self, root_pids: list[int], secret: str):
        self.root_pids = list(root_pids)
        self.secret = secret
        self.holding: list[str] = []
        self.titles: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cmdline-watch", daemon=True)

    def __enter__(self) -> "CommandLineWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def _processes(self) -> list[psutil.Process]:
        procs = []
        for pid in self.root_pids:
            try:
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return procs

    def _run(self):
        while not self._stop.is_set():
            for p in self._processes():
                try:
                    line = " ".join(p.cmdline())
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    continue
                if line not in self.titles:
                    self.titles.add(line)
                    if self.secret in line:
                        self.holding.append(line)
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY_S)
