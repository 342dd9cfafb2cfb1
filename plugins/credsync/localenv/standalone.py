"""``make airflow``: the Airflow UI locally, wired to the sandboxes and the warehouse.

Runs ``airflow standalone`` (api-server, scheduler, dag-processor, triggerer)
with the same connections the demo uses. Ctrl-C stops Airflow and the sandboxes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from credsync.localenv.airflow_env import (
    POOLS,
    airflow_base_env,
    sandbox_connections_env,
    warehouse_connection_env,
)
from credsync.localenv.demo import DEMO_DIR, DEMO_WORKFORCE
from credsync.localenv.postgres import ensure_server
from credsync.localenv.secrets import load_or_create_secrets
from credsync.paths import BUILD_DIR


def main() -> int:
    # A SIGTERM (kill, a supervisor) unwinds like Ctrl-C, so the sandboxes and Postgres stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from credsync.tenants import load_tenants
    from credsync.warehouse import migrate
    from sandbox.launcher import start_all

    server = ensure_server()
    url = server.create_database("credsync") if server.embedded else server.url
    migrate(url)
    tenants = load_tenants()
    secrets = load_or_create_secrets(DEMO_DIR / "secrets.env", [t.tenant_id for t in tenants])
    sandbox_env = {**secrets, "SANDBOX_SEED": json.dumps({"tenants": DEMO_WORKFORCE})}
    try:
        with start_all(DEMO_DIR / "sandbox", env=sandbox_env) as running:
            env = {
                **os.environ,
                **airflow_base_env(BUILD_DIR / "airflow"),
                **warehouse_connection_env(url),
                **sandbox_connections_env(tenants, {n: running.url(n) for n in running.ports}, secrets),
                "AIRFLOW_CONN_CREDSYNC_SIGNING_KEY": secrets["CREDSYNC_SIGNING_CONN"],
                "AIRFLOW__API__PORT": os.environ.get("AIRFLOW_PORT", "8080"),
                # `airflow standalone` starts its components as `airflow ...` from PATH: the venv's.
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            }
            subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True)
            for pool, (slots, description) in POOLS.items():
                subprocess.run(
                    [sys.executable, "-m", "airflow", "pools", "set", pool, str(slots), description],
                    env=env,
                    check=True,
                )
            print(
                "Airflow UI: http://127.0.0.1:8080 "
                "(admin password in build/airflow/simple_auth_manager_passwords.json.generated)"
            )
            # Its own process group, so stopping it stops the scheduler, api-server and the rest.
            airflow = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env,
                                       start_new_session=True)
            try:
                return airflow.wait()
            except KeyboardInterrupt:
                return 0
            finally:
                _stop_group(airflow)
    finally:
        server.stop()


def _stop_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
