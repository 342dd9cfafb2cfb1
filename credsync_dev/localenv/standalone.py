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
from credsync_dev.localenv.pipeline import demo_environment


def main() -> int:
    # A SIGTERM (kill, a supervisor) unwinds like Ctrl-C, so the sandboxes and Postgres stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    port = os.environ.get("AIRFLOW_PORT", "8080")
    with demo_environment(BUILD_DIR) as demo:
        env = {
            **demo.env,
            "AIRFLOW__API__PORT": port,
            # `airflow standalone` starts its components as `airflow ...` from PATH: the venv's.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
        print(f"Airflow UI: http://127.0.0.1:{port} "
              "(admin password in build/airflow/simple_auth_manager_passwords.json.generated)", flush=True)
        # Its own process group, so stopping it stops the scheduler, api-server and the rest.
        airflow = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env,
                                   start_new_session=True)
        try:
            return airflow.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            _stop_group(airflow)


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
