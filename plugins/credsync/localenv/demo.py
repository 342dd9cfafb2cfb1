"""``make demo``: the whole pipeline end to end against the sandboxes, in-process.

Starts (or reuses) a Postgres, migrates the warehouse, starts the sandboxes,
initialises a local Airflow home and runs every pipeline DAG with
``airflow dags test`` in dependency order, then prints a summary and writes
``build/demo/summary.json``. Safe to run again: every DAG is idempotent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from credsync.localenv.airflow_env import (
    POOLS,
    airflow_base_env,
    sandbox_connections_env,
    warehouse_connection_env,
)
from credsync.localenv.postgres import ensure_server
from credsync.localenv.secrets import load_or_create_secrets
from credsync.localenv.summary import collect_summary, render_summary
from credsync.paths import BUILD_DIR, PROJECT_ROOT

# Dependency order: each DAG consumes what the one before it loaded.
PIPELINE = (
    "hris_delta_export",
    "scim_provisioning",
    "lms_completion_pull",
    "credential_issuance",
    "registry_push",
    "hris_writeback",
    "recertification",
    "reconciliation",
)
DEMO_DIR = BUILD_DIR / "demo"
DEMO_WORKFORCE = {"acme": {"workers": 1000, "seed": 7}, "globex": {"workers": 300, "seed": 11}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dags", nargs="*", default=list(PIPELINE), help="DAG ids to run, in order")
    args = parser.parse_args(argv)

    from credsync.tenants import load_tenants
    from credsync.warehouse import migrate
    from sandbox.launcher import start_all

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    server = ensure_server()
    url = server.create_database("credsync") if server.embedded else server.url
    _say(f"warehouse: {'embedded Postgres under build/pgdata' if server.embedded else 'CREDSYNC_DATABASE_URL'}")
    migrate(url)

    tenants = load_tenants()
    secrets = load_or_create_secrets(DEMO_DIR / "secrets.env", [t.tenant_id for t in tenants])
    sandbox_env = {**secrets, "SANDBOX_SEED": json.dumps({"tenants": DEMO_WORKFORCE})}
    results: list[dict[str, object]] = []
    try:
        with start_all(DEMO_DIR / "sandbox", env=sandbox_env) as running:
            _say("sandboxes: " + ", ".join(f"{n} {running.url(n)}" for n in sorted(running.ports)))
            env = {
                **os.environ,
                **airflow_base_env(BUILD_DIR / "airflow"),
                **warehouse_connection_env(url),
                **sandbox_connections_env(tenants, {n: running.url(n) for n in running.ports}, secrets),
                "AIRFLOW_CONN_CREDSYNC_SIGNING_KEY": secrets["CREDSYNC_SIGNING_CONN"],
            }
            _prepare_airflow(env)
            for dag_id in args.dags:
                results.append(_run_dag(dag_id, env))
                if results[-1]["state"] != "success":
                    break
        summary = collect_summary(url, since=started, dag_results=results)
    finally:
        server.stop()
    (DEMO_DIR / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(render_summary(summary))
    print(f"\nmachine-readable summary: {DEMO_DIR / 'summary.json'}")
    return 0 if all(r["state"] == "success" for r in results) and len(results) == len(args.dags) else 1


def _prepare_airflow(env: dict[str, str]) -> None:
    airflow = [sys.executable, "-m", "airflow"]
    _say("airflow: migrating the metadata database (first run takes a minute)")
    _check([*airflow, "db", "migrate"], env, DEMO_DIR / "logs" / "airflow-db-migrate.log")
    for pool, (slots, description) in POOLS.items():
        _check([*airflow, "pools", "set", pool, str(slots), description], env, DEMO_DIR / "logs" / "pools.log")


def _run_dag(dag_id: str, env: dict[str, str]) -> dict[str, object]:
    log_path = DEMO_DIR / "logs" / f"{dag_id}.log"
    _say(f"running {dag_id} ...")
    start = time.monotonic()
    code = _run([sys.executable, "-m", "airflow", "dags", "test", dag_id], env, log_path)
    seconds = round(time.monotonic() - start, 1)
    output = log_path.read_text(errors="replace")
    failed = code != 0 or "state=failed" in output or "DagRunState.FAILED" in output
    state = "failed" if failed else "success"
    _say(f"  {dag_id}: {state} in {seconds}s (log: {log_path.relative_to(PROJECT_ROOT)})")
    if failed:
        tail = "\n".join(output.splitlines()[-40:])
        _say(f"  last lines of {dag_id}:\n{tail}")
    return {"dag_id": dag_id, "state": state, "seconds": seconds, "log": str(log_path)}


def _check(cmd: list[str], env: dict[str, str], log_path: Path) -> None:
    if _run(cmd, env, log_path) != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed; see {log_path}")


def _run(cmd: list[str], env: dict[str, str], log_path: Path) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        return subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode


def _say(message: str) -> None:
    print(message, flush=True)


if __name__ == "__main__":
    sys.exit(main())
