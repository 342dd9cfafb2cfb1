"""A real ``hris_delta_export`` run whose gate failed: scheduler, LocalExecutor, HRIS sandbox, task logs.

What on-call meets on a bad morning, produced the way production produces it: the HRIS sandbox
serves acme's workforce; the DAG is unpaused and triggered through the REST API (as the UI's
toggle and Trigger button do); a real ``airflow scheduler`` hands the tasks to the LocalExecutor,
whose task processes report to the api-server's Execution API and write the task logs the UI
shows. The first run loads the workforce; then the HRIS marks most of it terminated (an export
bug, as in the demo's bad day) and the next run's gate refuses the batch (``mass_termination``).

Connections are created through the REST API (the UI's Connections page), not the environment,
so the task processes read them from the metadata database as a deployment's do.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from credsync_dev.localenv.standalone import stop_process_group

from .airflow_server import AirflowServer

DAG_ID = "hris_delta_export"
GATE_TASK = "export_tenant.gate"
TENANT = "acme"
WORKERS = 60  # the HRIS sandbox's acme workforce (globex: a token, no workers: an empty export)
TERMINATED_SHARE = 0.6  # the gate allows 50 % (include/quality/hris_workers.yaml): a broken feed
RUN_TIMEOUT = 600
FINISHED = ("success", "failed")


@dataclass(frozen=True)
class FailedGateRun:
    run_id: str
    map_index: int
    batch_id: str
    terminated: list[str]
    current_workers: int
    verdict: str  # audit.batches.validation.credsync_verdict
    data_docs_url: str

    @property
    def ui_path(self) -> str:
        """The failed gate's page (its log) in the Airflow UI."""
        return f"/dags/{DAG_ID}/runs/{self.run_id}/tasks/{GATE_TASK}/mapped/{self.map_index}"


@contextmanager
def hris_sandbox(data_dir: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """The HRIS sandbox alone (its ``SandboxSet``, token per tenant); acme seeded with :data:`WORKERS` workers."""
    from sandbox.launcher import start_all

    tokens = {"acme": secrets.token_urlsafe(24), "globex": secrets.token_urlsafe(24)}
    env = {"SANDBOX_HRIS_TOKENS": json.dumps(tokens),
           "SANDBOX_SEED": json.dumps({"tenants": {TENANT: {"workers": WORKERS, "seed": 7}}})}
    with start_all(data_dir, env=env, names=["hris"]) as running:
        yield running, tokens


@contextmanager
def scheduler(server: AirflowServer) -> Iterator[subprocess.Popen]:
    """``airflow scheduler`` (LocalExecutor) beside the api-server, on the same metadata database."""
    env = {**server.env, "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{server.url}/execution/",
           # Task logs at a deployment's level (the api-server's own log is kept at WARNING).
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    log = (server.home / "scheduler.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "airflow", "scheduler"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_process_group(process)
        log.close()


def produce_failed_gate(server: AirflowServer, warehouse_url: str, hris: Any, tokens: dict[str, str]) -> FailedGateRun:
    """Load acme's workforce in one run, terminate a share of it at the HRIS, run again: the gate fails."""
    for tenant, token in tokens.items():
        ok(server.api("POST", "/api/v2/connections", json={
            "connection_id": f"hris_{tenant}", "conn_type": "http", "host": hris.url("hris"), "password": token}))
    ok(server.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}))
    try:
        clean = run_to_end(server, trigger(server))
        if clean["state"] != "success":
            raise AssertionError(f"the clean export failed: {clean}\n{failure_details(server, clean['dag_run_id'])}")
        wait_idle(server)
        current = current_workers(warehouse_url)
        terminated = current[: int(len(current) * TERMINATED_SHARE) + 1]
        for employee_id in terminated:
            ok(requests.post(f"{hris.admin('hris')}/tenants/{TENANT}/workers/{employee_id}/terminate",
                             json={"webhook": False}, timeout=30))
        failed = run_to_end(server, trigger(server))
    finally:
        # Paused again: no hourly run of the broken export while the other tests look at the UI.
        server.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": True})
    gates = [ti for ti in task_instances(server, failed["dag_run_id"]) if ti["task_id"] == GATE_TASK]
    blocked = [ti for ti in gates if ti["state"] == "failed"]
    if failed["state"] != "failed" or len(blocked) != 1:
        raise AssertionError(f"expected one failed gate: run {failed}, gates {gates}\n"
                             f"{failure_details(server, failed['dag_run_id'])}")
    batch_id, validation, docs = rejected_batch(warehouse_url)
    return FailedGateRun(run_id=failed["dag_run_id"], map_index=blocked[0]["map_index"], batch_id=batch_id,
                         terminated=sorted(terminated), current_workers=len(current),
                         verdict=validation["credsync_verdict"], data_docs_url=docs)


def trigger(server: AirflowServer) -> str:
    response = ok(server.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {}}))
    return response.json()["dag_run_id"]


def run_to_end(server: AirflowServer, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = ok(server.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")).json()
        if run["state"] in FINISHED:
            return run
        time.sleep(3)
    raise AssertionError(f"run {run_id} not finished after {RUN_TIMEOUT}s: {run}\n"
                         f"{tail(server.home / 'scheduler.log')}")


def wait_idle(server: AirflowServer) -> None:
    """Until no run of the DAG is queued or running (unpausing may have added the hour's scheduled run)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        runs = ok(server.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")).json()["dag_runs"]
        if all(r["state"] in FINISHED for r in runs):
            return
        time.sleep(3)
    raise AssertionError(f"runs of {DAG_ID} still active after {RUN_TIMEOUT}s")


def task_instances(server: AirflowServer, run_id: str) -> list[dict[str, Any]]:
    return ok(server.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")).json()["task_instances"]


def task_log(server: AirflowServer, run_id: str, ti: dict[str, Any]) -> str:
    """A task instance's log as the REST API gives it (one event per line)."""
    response = server.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/"
                                 f"{max(ti.get('try_number') or 1, 1)}",
                          params={"map_index": ti["map_index"]}, headers={"Accept": "application/json"})
    if response.status_code != 200:
        return f"(log: HTTP {response.status_code} {response.text[:300]})"
    content = response.json().get("content")
    if isinstance(content, list):
        return "\n".join(str(line.get("event", line)) if isinstance(line, dict) else str(line) for line in content)
    return str(content)


def failure_details(server: AirflowServer, run_id: str) -> str:
    parts = []
    for ti in task_instances(server, run_id):
        if ti["state"] not in ("success", "skipped"):
            log = task_log(server, run_id, ti)[-3000:]
            parts.append(f"--- {ti['task_id']}[{ti['map_index']}] {ti['state']}\n{log}")
    return "\n".join(parts) + "\n--- scheduler.log\n" + tail(server.home / "scheduler.log")


def current_workers(warehouse_url: str) -> list[str]:
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT employee_id FROM core.workers WHERE tenant_id = %s AND employment_status <> 'terminated'"
            " ORDER BY md5(employee_id)", (TENANT,))]


def rejected_batch(warehouse_url: str) -> tuple[str, dict[str, Any], str]:
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        row = conn.execute(
            "SELECT batch_id::text, validation, data_docs_url FROM audit.batches WHERE tenant_id = %s"
            " AND source = 'hris' AND status = 'rejected' AND validation ? 'credsync_verdict'"
            " AND validation::text LIKE '%%mass_termination%%' ORDER BY created_at DESC LIMIT 1",
            (TENANT,)).fetchone()
    if row is None:
        raise AssertionError("no rejected mass-termination batch of acme in audit.batches")
    return row[0], row[1], row[2]


def ok(response: requests.Response) -> requests.Response:
    if response.status_code >= 400:
        raise AssertionError(f"{response.request.method} {response.url}: HTTP {response.status_code} "
                             f"{response.text[:500]}")
    return response


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"
