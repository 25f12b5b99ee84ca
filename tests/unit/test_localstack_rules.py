"""The local stack's rules, one by one, without starting it: the settings converter, port choice, the Airflow
server's environment and login, process groups, and the import direction (tests/tools -> localstack only)."""
from __future__ import annotations

import ast
import json
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from localstack import ROOT, airflow_env, airflow_server, moto_server, ports, processes, stack
from localstack.pgcluster import PgCluster, pg_bindir
from localstack.settings import read_settings


@pytest.fixture
def held_port():
    """A loopback port bound (so taken) for the test's duration."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_rule_localstack_never_imports_tools_or_tests():
    for path in sorted((ROOT / "localstack").glob("*.py")):
        bad = {n for n in _imports(path) if n.split(".")[0] in ("tools", "tests")}
        assert not bad, f"{path.name} imports {bad}"


def test_rule_tools_are_thin_clis_over_localstack():
    for path in sorted((ROOT / "tools").glob("*.py")):
        bad = {n for n in _imports(path) if n.split(".")[0] == "tests"}
        assert not bad, f"tools/{path.name} imports {bad}"
    assert "localstack.stack" in _imports(ROOT / "tools" / "stack.py") or \
        "localstack" in _imports(ROOT / "tools" / "stack.py")


def test_rule_product_code_never_imports_the_local_stack():
    for path in sorted((ROOT / "include").rglob("*.py")) + sorted((ROOT / "dags").glob("*.py")):
        assert not {n for n in _imports(path) if n.split(".")[0] in ("localstack", "tools", "tests")}, path


def test_rule_settings_convert_astro_connections_pools_and_variables(tmp_path):
    path = tmp_path / "airflow_settings.yaml"
    path.write_text(textwrap.dedent("""
        airflow:
          connections:
            - {conn_id: src, conn_type: postgres, conn_host: 127.0.0.1, conn_port: 54329, conn_schema: shop,
               conn_login: postgres, conn_password: "", conn_extra: {sslmode: disable}}
            - {conn_id: aws, conn_type: aws, conn_login: testing, conn_extra: {endpoint_url: "http://x:1"}}
          pools:
            - {pool_name: copy, pool_slot: 4, pool_description: streams}
          variables:
            - {variable_name: rate, variable_value: "20"}
        """))
    settings = read_settings(path, overrides={"src": {"port": 6000}, "aws": {"endpoint_url": "http://127.0.0.1:9"}})
    assert settings["connections"]["src"] == {"conn_type": "postgres", "host": "127.0.0.1", "port": 6000,
                                              "schema": "shop", "login": "postgres",
                                              "extra": json.dumps({"sslmode": "disable"})}
    assert "password" not in settings["connections"]["src"]       # an empty password is no password
    assert json.loads(settings["connections"]["aws"]["extra"]) == {"endpoint_url": "http://127.0.0.1:9"}
    assert settings["pools"] == {"copy": {"slots": 4, "description": "streams", "include_deferred": False}}
    assert settings["variables"] == {"rate": "20"}


def test_rule_the_repository_settings_declare_the_pools_the_dags_use():
    assert {"pgferry_copy", "rds_snapshot_copy"} <= set(read_settings()["pools"])


def test_rule_the_stack_points_its_connections_at_its_own_ports():
    overrides = stack.settings_overrides({"source_port": 1, "target_port": 2, "moto_port": 3})
    assert overrides == {"pgferry_source": {"port": 1}, "pgferry_target": {"port": 2},
                         "aws_moto": {"endpoint_url": "http://127.0.0.1:3"}}


def test_rule_a_stack_port_is_kept_then_preferred_then_free(monkeypatch, held_port):
    assert stack.choose_port("source", {"source_port": 12345}) == 12345
    monkeypatch.setitem(stack.DEFAULT_PORTS, "source", held_port)
    chosen = stack.choose_port("source", {})
    assert chosen != held_port and ports.port_free(chosen)


def test_rule_ports_free_and_taken(held_port):
    assert not ports.port_free(held_port)
    assert ports.free_port({held_port}) != held_port


def test_rule_airflow_ports_explicit_api_port_is_taken_as_given_and_parts_never_share(monkeypatch, held_port):
    monkeypatch.setattr(airflow_server, "DEFAULT_PORTS", {"api": held_port, "worker_log": held_port,
                                                         "trigger_log": held_port})
    chosen = airflow_server.choose_ports()
    assert held_port not in chosen.values() and len(set(chosen.values())) == 3
    assert airflow_server.choose_ports(api_port=4321)["api"] == 4321


def test_rule_the_admin_password_is_generated_once_and_private(tmp_path):
    first = airflow_server.admin_password(tmp_path)
    assert len(first) >= 16 and airflow_server.admin_password(tmp_path) == first
    file = tmp_path / airflow_server.PASSWORDS_FILE
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert not list(ROOT.glob(airflow_server.PASSWORDS_FILE))       # never in the repository


def test_rule_the_execution_api_follows_the_api_port(tmp_path):
    env = airflow_server.server_env(tmp_path, {"api": 18080, "worker_log": 18793, "trigger_log": 18794})
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "18080"
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)   # standalone starts `airflow ...`
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18793"
    assert airflow_server.server_env(tmp_path, {"api": 1, "worker_log": 2, "trigger_log": 3},
                                     {"AIRFLOW__CORE__PARALLELISM": "3"})["AIRFLOW__CORE__PARALLELISM"] == "3"


def test_rule_every_airflow_of_the_project_loads_its_dags_and_plugins_only(tmp_path):
    env = airflow_env.project_env(tmp_path)
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(ROOT / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(ROOT / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert str(ROOT) in env["PYTHONPATH"].split(":")


def test_rule_a_connection_is_exposed_as_json_in_the_environment(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PGFERRY_X", raising=False)
    airflow_env.postgres_connection("pgferry_x", 5999, "shop", user="u")
    assert json.loads(__import__("os").environ.pop("AIRFLOW_CONN_PGFERRY_X")) == {
        "conn_type": "postgres", "host": "127.0.0.1", "port": 5999, "schema": "shop", "login": "u"}


def test_rule_stopping_a_group_stops_its_children_too():
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    time.sleep(0.2)
    assert processes.group_alive(proc.pid)
    processes.stop_group(proc.pid, grace=5)
    assert not processes.group_alive(proc.pid)      # the backgrounded child went with its parent
    assert processes.group_alive(None) is False
    processes.stop_group(proc.pid)                   # stopping what is gone is a no-op


def test_rule_moto_alive_needs_both_the_process_and_the_port(held_port):
    assert moto_server.alive(None, held_port) is False
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert moto_server.alive(proc.pid, held_port) is True
        assert moto_server.alive(proc.pid, ports.free_port()) is False
    finally:
        processes.stop_group(proc.pid)


def test_rule_pg_bindir_honours_pg_bindir(monkeypatch, tmp_path):
    (tmp_path / "pg_ctl").touch()
    monkeypatch.setenv("PG_BINDIR", f"/nonexistent:{tmp_path}")   # the first directory with pg_ctl
    assert pg_bindir() == tmp_path
    monkeypatch.delenv("PG_BINDIR")
    assert (pg_bindir() / "pg_ctl").exists()


def test_rule_a_major_without_a_server_here_names_the_make_target():
    with pytest.raises(RuntimeError, match=r"no PostgreSQL 11 server here: `make pg-majors` installs the pinned "
                                           r"ones \(13, 17\)"):
        pg_bindir(11)


def test_rule_a_cluster_keeps_its_port_across_restarts(tmp_path):
    first = PgCluster(tmp_path, "source")
    first.root.mkdir(parents=True, exist_ok=True)
    first.portfile.write_text("54999")
    assert PgCluster(tmp_path, "source").port == 54999
    assert PgCluster(tmp_path, "target", port=55001).dsn("shop") == "host=127.0.0.1 port=55001 dbname=shop user=postgres"


def test_rule_the_stack_cli_refuses_an_unknown_command_naming_the_known_ones():
    from tools.stack import main
    with pytest.raises(SystemExit, match=r"start\|stop\|status\|airflow \(got 'bogus'\)"):
        main(["bogus"])
