"""localstack.dagrun, the helpers `make demo` and the DAG tests run DAGs through: a DAG is found by id in
dags/, and an unknown id is refused naming the DAGs that exist."""
from __future__ import annotations

import pytest

from localstack.dagrun import DagNotFound, load_dag


def test_rule_a_dag_is_loaded_by_its_id_from_dags():
    assert load_dag("postgres_logical_migration").dag_id == "postgres_logical_migration"


def test_rule_an_unknown_dag_id_names_the_dags_there_are():
    with pytest.raises(DagNotFound) as e:
        load_dag("no_such_dag")
    assert "no DAG no_such_dag in dags/" in str(e.value) and "postgres_logical_migration" in str(e.value)


def test_rule_a_demo_run_writes_its_output_to_the_log_file_children_included(tmp_path):
    """`make demo` keeps the task logs out of the terminal: the process's and its children's stdout and
    stderr (a logging handler that took sys.stderr before the block too) go to the file while the block runs,
    and to the terminal again after it. Run in a child, whose terminal is a pipe the test reads."""
    import subprocess
    import sys

    from localstack import ROOT
    from localstack.dagrun import log_path

    log = log_path("some_dag", tmp_path / "logs")
    assert log.parent == tmp_path / "logs" and log.name.startswith("some_dag-") and log.suffix == ".log"
    script = f"""
import logging, subprocess, sys
from localstack.dagrun import output_to
logger = logging.getLogger("x")
logger.addHandler(logging.StreamHandler(sys.stderr))
print("before the block")
with output_to({str(log)!r}):
    print("from print")
    logger.warning("from a logger")
    subprocess.run([sys.executable, "-c", "import sys; print('from a child'); print('child err', file=sys.stderr)"])
print("after the block")
logger.warning("logger after")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert all(s in text for s in ("from print", "from a logger", "from a child", "child err")), text
    assert "before the block" not in text and "after the block" not in text and "logger after" not in text
    assert done.stdout.split() == ["before", "the", "block", "after", "the", "block"]
    assert done.stderr.strip() == "logger after"


def test_rule_a_failed_tasks_log_tail_is_its_own_section_of_the_run_log(tmp_path):
    from localstack.dagrun import task_log_tail
    log = tmp_path / "run.log"
    lines = ["setup"]
    for task, index, body in [("precheck", -1, ["precheck ok"]),
                              ("copy_lane", 0, [f"lane 0 line {n}" for n in range(60)]),
                              ("copy_lane", 1, ["\x1b[31mlane 1 boom\x1b[0m", "Traceback: boom"]),
                              ("validate", -1, ["validate skipped"])]:
        lines += [f"[DAG TEST] starting task_id={task} map_index={index}", *body,
                  f"[DAG TEST] end task task_id={task} map_index={index}"]
    log.write_text("\n".join(lines + ["run failed"]) + "\n")
    assert task_log_tail(log, "copy_lane[1]") == ["[DAG TEST] starting task_id=copy_lane map_index=1",
                                                  "lane 1 boom", "Traceback: boom",
                                                  "[DAG TEST] end task task_id=copy_lane map_index=1"]
    tail = task_log_tail(log, "copy_lane[0]", lines=5)
    assert tail[-2:] == ["lane 0 line 59", "[DAG TEST] end task task_id=copy_lane map_index=0"] and len(tail) == 5
    assert task_log_tail(log, "", lines=2) == ["[DAG TEST] end task task_id=validate map_index=-1", "run failed"]
