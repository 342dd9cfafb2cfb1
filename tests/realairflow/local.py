"""A real Airflow 3 on one machine: api-server, scheduler, dag-processor, LocalExecutor.

What ``make airflow`` runs (``airflow standalone``), as separate processes a test can watch:
a Postgres metadata database of the test's own (LocalExecutor needs more than SQLite), the
repo's DAGs and plugins, SimpleAuthManager with one ``admin`` whose password the fixture
writes, and DAGs paused at creation as ``make airflow`` leaves them. Scheduled and
asset-triggered runs are off (``use_job_schedule``): only what the test triggers or backfills runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.distributed.cluster import Process, _check, _http_ok, _start, _stop, _wait_for, free_port, sqlalchemy_url
from tests.realairflow.api import AirflowApi

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
FINISHED = {"success", "failed"}


@dataclass
class RealAirflow(AirflowApi):
    """The running components, how to reach them, and the environment every ``airflow`` command needs."""

    url: str
    username: str
    password: str
    home: Path
    env: dict[str, str] = field(repr=False)
    components: dict[str, Process] = field(default_factory=dict, repr=False)

    def shell(self, command: str, *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a documented shell command as a person would, from the checkout, with this Airflow's settings.

        ``airflow`` resolves to the venv's; the documented ``AIRFLOW_HOME=build/airflow`` (the
        local ``make airflow`` home) is this Airflow's home instead.
        """
        command = command.replace("AIRFLOW_HOME=build/airflow", f"AIRFLOW_HOME={shlex.quote(str(self.home))}")
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise AssertionError(f"documented command failed ({result.returncode}): {command}\n"
                                 f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")
        return result

    def runs(self, dag_id: str) -> list[dict]:
        response = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "logical_date"})
        response.raise_for_status()
        return response.json()["dag_runs"]

    def wait_runs(self, dag_id: str, count: int, *, timeout: float = 600, run_type: str | None = None) -> list[dict]:
        """Wait until ``dag_id`` has ``count`` finished runs (of ``run_type``); returns them."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            runs = [r for r in self.runs(dag_id) if run_type in (None, r["run_type"])]
            done = [r for r in runs if r["state"] in FINISHED]
            if len(done) >= count:
                return done
            if time.monotonic() > deadline:
                states = [(r["dag_run_id"], r["state"]) for r in runs]
                raise TimeoutError(f"{dag_id}: {len(done)} of {count} runs finished after {timeout:.0f}s: {states}")
            time.sleep(3)

    def wait_run(self, dag_id: str, run_id: str, *, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            response = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            response.raise_for_status()
            run = response.json()
            if run["state"] in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} {run_id} still {run['state']} after {timeout:.0f}s")
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        response = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 200})
        response.raise_for_status()
        return response.json()["task_instances"]

    def check_alive(self) -> None:
        dead = [n for n, p in self.components.items() if not p.alive()]
        if dead:
            detail = "\n".join(f"--- {n} ({self.components[n].log}):\n{self.components[n].tail()}" for n in dead)
            raise RuntimeError(f"airflow component(s) exited: {', '.join(dead)}\n{detail}")


def airflow_settings(home: Path, metadata_url: str, port: int) -> dict[str, str]:
    """What every component (and every ``airflow`` command against them) shares besides the caller's env."""
    url = f"http://{HOST}:{port}"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(metadata_url),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": _stable_secret(home, "jwt"),
        "AIRFLOW__API__SECRET_KEY": _stable_secret(home, "api"),
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def _stable_secret(home: Path, name: str) -> str:
    path = home / f".{name}-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    return path.read_text(encoding="utf-8")


@contextmanager
def local_airflow(home: Path, base_env: Mapping[str, str], *, migrate: bool = True,
                  start_timeout: float = 240) -> Iterator[RealAirflow]:
    """api-server, scheduler and dag-processor under ``home`` with ``base_env`` (+ :func:`airflow_settings`).

    ``base_env`` must carry ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (as :func:`airflow_settings` built it)
    for the metadata database, migrated here unless ``migrate`` is false. Leaving the block stops them all.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = dict(base_env)
    env["AIRFLOW_HOME"] = str(home)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    url = f"http://{HOST}:{env['AIRFLOW__API__PORT']}"
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"admin": password}), encoding="utf-8")
    airflow = RealAirflow(url=url, username="admin", password=password, home=home, env=env)
    command = [sys.executable, "-m", "airflow"]
    try:
        if migrate:
            _check([*command, "db", "migrate"], env, home / "component-logs" / "db-migrate.log")
        for name in ("api-server", "scheduler", "dag-processor"):
            airflow.components[name] = _start(name, [*command, name], env, home / "component-logs")
        _wait_for(lambda: _http_ok(f"{url}/api/v2/monitor/health"), start_timeout, "the api-server",
                  airflow.check_alive)
        yield airflow
    finally:
        for process in reversed(list(airflow.components.values())):
            _stop(process)


__all__ = ["RealAirflow", "airflow_settings", "free_port", "local_airflow"]
