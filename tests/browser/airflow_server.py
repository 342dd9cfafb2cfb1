"""A real ``airflow api-server`` for the browser tests: own AIRFLOW_HOME, the repo's DAGs and plugins.

Metadata in SQLite; the warehouse is the test Postgres, reached through Connection
``credsync_warehouse`` as in a deployment; pools as ``make airflow`` sets them. DAGs start paused,
as in a deployment; a test that needs runs executed adds a scheduler (tests/browser/real_run.py).
Login: SimpleAuthManager with one admin whose password the fixture writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from credsync_dev.localenv.standalone import stop_process_group
from tests.realairflow.api import AirflowApi

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240


@dataclass(frozen=True)
class AirflowServer(AirflowApi):
    url: str
    username: str
    password: str
    home: Path
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def airflow_api_server(home: Path, *, warehouse_url: str, extra_env: dict[str, str]) -> Iterator[AirflowServer]:
    from credsync_dev.localenv.airflow_env import airflow_base_env, warehouse_connection_env

    port = free_port()
    password = secrets.token_urlsafe(12)
    home.mkdir(parents=True, exist_ok=True)
    (home / "passwords.json").write_text(json.dumps({"admin": password}), encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    # A real Airflow, not the unit-test mode tests/conftest.py puts this process in (whose defaults
    # differ from a deployment's: DAGs unpaused at creation, for one).
    user_env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    env = {
        **user_env,
        **airflow_base_env(home),
        **warehouse_connection_env(warehouse_url),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        **extra_env,
    }
    log = (home / "api-server.log").open("wb")
    airflow = [sys.executable, "-m", "airflow"]
    # As make airflow prepares its home: metadata DB, pools and connections as rows, DAGs serialised.
    for step in (["db", "migrate"], ["-m", "credsync_dev.localenv.metadata"], ["dags", "reserialize"]):
        command = [sys.executable, *step] if step[0] == "-m" else [*airflow, *step]
        subprocess.run(command, env=env, check=True, stdout=log, stderr=subprocess.STDOUT, timeout=600)
    server = subprocess.Popen([*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(url, server, home / "api-server.log")
        yield AirflowServer(url, "admin", password, home, env)
    finally:
        stop_process_group(server)
        log.close()


def _wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"airflow api-server exited ({server.returncode}):\n{log.read_text()[-4000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200:
                return
        time.sleep(1)
    raise RuntimeError(f"airflow api-server not healthy after {START_TIMEOUT}s:\n{log.read_text()[-4000:]}")
