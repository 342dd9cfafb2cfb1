"""Local visibility: the demo's secrets file is an env file, psql is reachable, the UI binds
loopback, parallelism fits the cores, and sandbox faults can aim at some requests only."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from credsync_dev.localenv import airflow_env, standalone
from credsync_dev.localenv.secrets import load_or_create_secrets, read_demo_secrets
from credsync_dev.localenv.summary import psql_args, psql_command
from sandbox.faults import FaultInjector


def test_secrets_file_is_an_env_file_a_shell_can_source_and_reruns_keep_the_keys(tmp_path):
    path = tmp_path / "secrets.env"
    first = load_or_create_secrets(path, ["acme", "globex"])

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.read_text().lstrip().startswith("{")
    shell = subprocess.run(["bash", "-c", f"set -a; . {path}; printf %s \"$CREDSYNC_SIGNING_CONN\""],
                           capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]})
    assert json.loads(shell.stdout) == json.loads(first["CREDSYNC_SIGNING_CONN"])
    assert load_or_create_secrets(path, ["acme", "globex"]) == first


def test_a_json_secrets_file_from_an_older_checkout_is_kept_and_rewritten_as_an_env_file(tmp_path):
    path = tmp_path / "secrets.env"
    old = load_or_create_secrets(tmp_path / "fresh.env", ["acme", "globex"])
    path.write_text(json.dumps(old))

    assert load_or_create_secrets(path, ["acme", "globex"]) == old
    assert not path.read_text().startswith("{")
    assert read_demo_secrets(path) == old


def test_psql_line_for_the_embedded_socket_and_for_a_url_with_a_password():
    socket = "postgresql://postgres:@/credsync?host=/work/main/build/pgdata"
    assert psql_args(socket) == ["-h", "/work/main/build/pgdata", "-U", "postgres", "-d", "credsync"]
    tcp = "postgresql://alice:s3cret@db.internal:6432/warehouse"
    assert psql_args(tcp) == ["-h", "db.internal", "-p", "6432", "-U", "alice", "-d", "warehouse"]
    assert "s3cret" not in psql_command(tcp)
    assert "CREDSYNC_DATABASE_URL" in psql_command(tcp)


def test_make_airflow_binds_loopback_and_runs_one_task_slot_per_core(tmp_path, monkeypatch):
    env = standalone.standalone_env({"PATH": "/usr/bin"}, "8080")
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8080"

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert airflow_env.airflow_base_env(tmp_path)["AIRFLOW__CORE__PARALLELISM"] == "2"
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert airflow_env.airflow_base_env(tmp_path)["AIRFLOW__CORE__PARALLELISM"] == "2"
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert airflow_env.airflow_base_env(tmp_path)["AIRFLOW__CORE__PARALLELISM"] == "16"


@pytest.fixture()
def faulted() -> TestClient:
    async def ok(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/v1/certificates", ok, methods=["GET", "POST"]),
                            Route("/v1/certificates/batch", ok, methods=["POST"]),
                            Route("/oauth/token", ok, methods=["POST"])])
    return TestClient(FaultInjector(app, "unit"))


def test_faults_aimed_at_writes_of_one_path_leave_reads_and_other_paths_alone(faulted):
    switched = faulted.put("/admin/faults", json={"error_rate": 1.0, "error_status": 422, "methods": ["post"],
                                                  "paths": ["/v1/certificates"]})
    assert switched.json()["paths"] == ["/v1/certificates"]

    assert faulted.post("/v1/certificates").status_code == 422
    refused = faulted.post("/v1/certificates/batch")
    assert refused.status_code == 422 and refused.json()["fault"] is True
    assert faulted.get("/v1/certificates").status_code == 200
    assert faulted.post("/oauth/token").status_code == 200

    faulted.delete("/admin/faults")
    assert faulted.post("/v1/certificates").status_code == 200


def test_faults_without_a_scope_hit_every_request(faulted):
    faulted.put("/admin/faults", json={"error_rate": 1.0})
    assert faulted.get("/v1/certificates").status_code == 503
    assert faulted.post("/oauth/token").status_code == 503


def test_the_api_server_of_make_airflow_listens_on_loopback(tmp_path):
    """What `airflow api-server` (started by `airflow standalone`) binds to, read by Airflow's own CLI."""
    import sys

    env = standalone.standalone_env({**os.environ, **airflow_env.airflow_base_env(tmp_path / "airflow")}, "8080")
    probe = "from airflow.cli.cli_parser import get_parser; print(get_parser().parse_args(['api-server']).host)"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "127.0.0.1"
