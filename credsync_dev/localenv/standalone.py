"""``make airflow``: the Airflow UI locally, wired to the sandboxes and the warehouse.

Runs ``airflow standalone`` (api-server, scheduler, dag-processor, triggerer)
in the environment the demo uses (:func:`credsync_dev.localenv.pipeline.demo_environment`):
the same warehouse, sandboxes, connections and pools. Ctrl-C stops Airflow and the sandboxes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from credsync.paths import BUILD_DIR
from credsync_dev.localenv.airflow_env import local_parallelism
from credsync_dev.localenv.pipeline import demo_environment

HOST = "127.0.0.1"


def main() -> int:
    # A SIGTERM (kill, a supervisor) unwinds like Ctrl-C, so the sandboxes and Postgres stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    port = os.environ.get("AIRFLOW_PORT", "8080")
    with demo_environment(BUILD_DIR) as demo:
        env = standalone_env(demo.env, port)
        print(banner(port, demo.warehouse_url), flush=True)
        # Its own process group, so stopping it stops the scheduler, api-server and the rest.
        airflow = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env,
                                   start_new_session=True)
        try:
            return airflow.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            stop_process_group(airflow)


def standalone_env(demo_env: dict[str, str], port: str) -> dict[str, str]:
    """The demo's Airflow environment for ``airflow standalone`` on ``port``, reachable from this machine only."""
    return {
        **demo_env,
        "AIRFLOW__API__PORT": port,
        # The demo's UI is for this machine only (Airflow's default is 0.0.0.0).
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__BASE_URL": f"http://{HOST}:{port}",
        # `airflow standalone` starts its components as `airflow ...` from PATH: the venv's.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), demo_env.get("PATH", os.environ.get("PATH", ""))]),
    }


def banner(port: str, warehouse_url: str) -> str:
    """What a person needs to start using the local Airflow."""
    from credsync_dev.localenv.summary import psql_command

    return "\n".join([
        f"Airflow UI: http://{HOST}:{port} (user admin, password in "
        "build/airflow/simple_auth_manager_passwords.json.generated)",
        "DAGs start paused: unpause one with its toggle in the UI, or "
        "`AIRFLOW_HOME=build/airflow .venv/bin/airflow dags unpause <dag_id>`; a triggered run of a paused DAG "
        "stays queued.",
        "Connections: `AIRFLOW_HOME=build/airflow .venv/bin/airflow connections list` (ids and types; the UI "
        "hides passwords). Warehouse: " + psql_command(warehouse_url),
        f"Executor slots: {local_parallelism()} (one per core).",
    ])


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group started with ``start_new_session``; SIGKILL it after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
