"""The distributed run: the pipeline on CeleryExecutor, a worker lost mid-task, compared with ``dags test``.

1. Reference: the pipeline (``PIPELINE``, in order) through ``airflow dags test``
   in one process, against sandboxes and a warehouse database of its own
   (:func:`credsync_dev.localenv.pipeline.demo_environment`, what ``make demo`` runs on).
2. Distributed: the same input (same seeds, same secrets and issuer key) on a
   Celery cluster (:mod:`tests.distributed.cluster`) with two workers. While a
   ``scim_provisioning.provision`` task runs (the SCIM sandbox answers slowly,
   so it is mid-way), the worker running it is killed with SIGKILL, its whole
   process tree at once. The scheduler finds the task without heartbeat, fails
   the try, and the retry runs on the surviving worker.
3. The warehouse tables of both runs (:mod:`tests.distributed.tables`) and what
   the outside systems hold (SCIM users, registry certificates) are compared.

``python -m tests.distributed.scenario`` (``make celery-run``) runs it for a person:
it prints the UI address and where every log is, and cleans up at the end
(``--linger`` keeps the cluster up for the UI until Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.distributed import tables
from tests.distributed.cluster import (
    WORKERS,
    BrokerUnavailable,
    CeleryCluster,
    celery_cluster,
    redis_broker,
    sqlalchemy_url,
)

SMALL_WORKFORCE: dict[str, dict[str, int]] = {"acme": {"workers": 80, "seed": 7}, "globex": {"workers": 30, "seed": 11}}
KILL_DAG, KILL_TASK = "scim_provisioning", "provision"
# Per SCIM request, on the distributed run only: the provisioning task lasts long enough to be killed mid-way.
SCIM_LATENCY = {"latency_ms": 120}
KILL_AFTER_RUNNING_S = 3.0


@dataclass
class Kill:
    worker: str
    dag_id: str
    task_id: str
    map_index: int
    try_number: int
    pid: int
    killed_pids: list[int]
    survivor: str


@dataclass
class ScenarioResult:
    reference_runs: list[dict[str, Any]]
    distributed_runs: list[dict[str, Any]]
    kill: Kill | None
    differences: dict[str, dict]
    duplicates: dict[str, int]
    reference_outside: dict[str, list[str]]
    distributed_outside: dict[str, list[str]]
    reference_rows: dict[str, int]
    killed_task_tries: list[dict[str, Any]] = field(default_factory=list)
    killed_worker_exit: int | None = None


def run(work_dir: Path, *, workforce: Mapping[str, Mapping[str, int]] = SMALL_WORKFORCE,
        say: Callable[[str], None] = print, linger: bool = False) -> ScenarioResult:
    """The whole scenario under ``work_dir``.

    Raises :class:`~tests.distributed.cluster.BrokerUnavailable` before doing anything when there is no Redis.
    """
    from credsync_dev.localenv.pipeline import PIPELINE, demo_environment

    reference_dir, distributed_dir = work_dir / "reference", work_dir / "distributed"
    with redis_broker(work_dir / "redis") as broker_url:
        say("== reference run: airflow dags test, in order ==")
        with demo_environment(reference_dir, workforce=workforce, temporary_database=True, say=say) as demo:
            reference_runs = [r.as_dict() for r in demo.run_dags(list(PIPELINE), log_name="reference")]
            _require_success(reference_runs, PIPELINE, "reference run")
            expected = tables.snapshot(demo.warehouse_url)
            reference_outside = outside_state(demo)
        tables.dump(expected, work_dir / "reference-tables.json")
        # Same secrets: the same issuer key (credential issuer and signatures) and sandbox credentials.
        (distributed_dir / "demo").mkdir(parents=True, exist_ok=True)
        shutil.copy2(reference_dir / "demo" / "secrets.env", distributed_dir / "demo" / "secrets.env")

        say("== distributed run: CeleryExecutor, two workers, one killed mid-task ==")
        with _metadata_database(distributed_dir) as metadata_url, \
                demo_environment(distributed_dir, workforce=workforce, temporary_database=True, say=say) as demo, \
                celery_cluster(distributed_dir / "cluster", demo.env, metadata_url=metadata_url,
                               broker_url=broker_url, workers=WORKERS, say=say) as cluster:
            say(f"Airflow UI: {cluster.api_url} (no login; loopback only). Component logs: "
                f"{cluster.root / 'logs'}; task logs: {cluster.root / 'task-logs'}")
            _admin(demo.sandboxes.url("scim"), "PUT", "/admin/faults", SCIM_LATENCY)
            distributed_runs, kill = _drive_with_kill(cluster, list(PIPELINE), say)
            _admin(demo.sandboxes.url("scim"), "DELETE", "/admin/faults", None)
            actual = tables.snapshot(demo.warehouse_url)
            tables.dump(actual, work_dir / "distributed-tables.json")
            result = ScenarioResult(
                reference_runs=reference_runs, distributed_runs=distributed_runs, kill=kill,
                differences=tables.differences(expected, actual),
                duplicates=tables.duplicate_keys(demo.warehouse_url),
                reference_outside=reference_outside, distributed_outside=outside_state(demo),
                reference_rows={t: sum(c.values()) for t, c in expected.items()},
                killed_task_tries=_tries(metadata_url, kill) if kill else [],
                killed_worker_exit=cluster.workers[kill.worker].popen.returncode if kill else None)
            if linger:
                say(f"cluster still up: {cluster.api_url} - Ctrl-C to stop and clean up")
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(3600)
    return result


def outside_state(demo) -> dict[str, list[str]]:
    """What the outside systems hold, per tenant, without the ids they generate.

    SCIM users (the manager named by the manager's ``externalId`` instead of its SCIM id) and
    registry certificates, each as a sorted list of JSON rows: a duplicate or a lost write there
    is one the warehouse tables cannot show.
    """
    state: dict[str, list[str]] = {}
    for tenant in demo.tenants:
        users = _scim_users(demo, tenant.tenant_id)
        external = {u["id"]: u.get("externalId") for u in users}
        rows = []
        for user in users:
            enterprise = user.get(_ENTERPRISE) or {}
            manager = (enterprise.get("manager") or {}).get("value")
            rows.append({
                "userName": user.get("userName"), "externalId": user.get("externalId"),
                "active": user.get("active"), "name": user.get("name"), "title": user.get("title"),
                "emails": user.get("emails"), "department": enterprise.get("department"),
                "employeeNumber": enterprise.get("employeeNumber"), "manager": external.get(manager, manager),
            })
        state[f"scim_users.{tenant.tenant_id}"] = sorted(json.dumps(r, sort_keys=True) for r in rows)
        state[f"registry_certificates.{tenant.tenant_id}"] = sorted(
            tables.without_local_hosts(json.dumps({k: c.get(k) for k in _CERTIFICATE_FIELDS}, sort_keys=True))
            for c in _registry_certificates(demo, tenant.tenant_id))
    return state


_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_CERTIFICATE_FIELDS = ("learner_id", "learner_name", "credential_type", "credential_version", "issued_on",
                       "expires_on", "issuer", "evidence_url", "status")


def _scim_users(demo, tenant_id: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {demo.secrets['SANDBOX_SCIM_TOKEN']}"}
    users: list[dict[str, Any]] = []
    while True:
        page = _get_json(f"{demo.sandboxes.url('scim')}/{tenant_id}/v2/Users", headers,
                         {"startIndex": len(users) + 1, "count": 200})
        users.extend(page.get("Resources") or [])
        if not page.get("Resources") or len(users) >= int(page["totalResults"]):
            return users


def _registry_certificates(demo, tenant_id: str) -> list[dict[str, Any]]:
    import requests

    clients = json.loads(demo.secrets["SANDBOX_REGISTRY_CLIENTS"])
    client_id, client = next(iter(clients.items()))
    base = demo.sandboxes.url("registry")
    token = requests.post(f"{base}/oauth/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": client["secret"],
        "scope": "certificates:read"}).json()["access_token"]
    certificates: list[dict[str, Any]] = []
    params: dict[str, object] = {"tenant_id": tenant_id, "limit": 500}
    while True:
        page = _get_json(f"{base}/v1/certificates", {"Authorization": f"Bearer {token}"}, params)
        certificates.extend(page["data"])
        if not page.get("next_cursor"):
            return certificates
        params["cursor"] = page["next_cursor"]


def _drive_with_kill(cluster: CeleryCluster, dag_ids: list[str],
                     say: Callable[[str], None]) -> tuple[list[dict[str, Any]], Kill | None]:
    import psycopg

    from tests.distributed.drive import RESULT

    log_path = cluster.root / "logs" / "drive.log"
    with log_path.open("w") as log:
        driver = subprocess.Popen([sys.executable, "-m", "tests.distributed.drive", json.dumps(dag_ids)],
                                  env=cluster.env, stdout=log, stderr=subprocess.STDOUT)
    kill: Kill | None = None
    running_since: dict[tuple, float] = {}
    reported = 0
    try:
        while driver.poll() is None:
            reported = _report_progress(log_path, reported, say)
            cluster.check_alive(except_=(kill.worker,) if kill else ())
            if kill is None:
                with psycopg.connect(cluster.metadata_url, autocommit=True) as conn:
                    rows = conn.execute(
                        "SELECT map_index, try_number, pid FROM task_instance WHERE dag_id = %s AND task_id = %s"
                        " AND state = 'running' AND pid IS NOT NULL ORDER BY map_index", (KILL_DAG, KILL_TASK),
                    ).fetchall()
                for map_index, try_number, pid in rows:
                    key = (map_index, try_number, pid)
                    running_since.setdefault(key, time.monotonic())
                    worker = cluster.worker_of_pid(pid)
                    if worker and time.monotonic() - running_since[key] >= KILL_AFTER_RUNNING_S:
                        killed = cluster.kill_worker(worker)
                        survivor = next(n for n in cluster.workers if n != worker)
                        kill = Kill(worker=worker, dag_id=KILL_DAG, task_id=KILL_TASK, map_index=map_index,
                                    try_number=try_number, pid=pid, killed_pids=killed, survivor=survivor)
                        say(f"!! SIGKILL {worker} ({len(killed)} processes) while it ran {KILL_DAG}.{KILL_TASK}"
                            f"[{map_index}] try {try_number} (pid {pid}); {survivor} carries on")
                        break
            time.sleep(0.5)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait()
    _report_progress(log_path, reported, say)
    runs = [json.loads(line[len(RESULT):]) for line in log_path.read_text().splitlines() if line.startswith(RESULT)]
    return runs, kill


def _report_progress(log_path: Path, reported: int, say: Callable[[str], None]) -> int:
    from tests.distributed.drive import RESULT

    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith(RESULT)]
    for line in lines[reported:]:
        ended = json.loads(line[len(RESULT):])
        say(f"  {ended.get('dag_id', '?')}: {ended.get('state', ended.get('error'))} in {ended.get('seconds', '?')}s")
    return len(lines)


def _tries(metadata_url: str, kill: Kill) -> list[dict[str, Any]]:
    """Every try of the killed task instance: the history of earlier tries and the current one."""
    import psycopg
    from psycopg.rows import dict_row

    query = """
        SELECT try_number, state, hostname, pid, queue FROM task_instance_history
         WHERE dag_id = %(dag)s AND task_id = %(task)s AND map_index = %(mi)s
        UNION ALL
        SELECT try_number, state, hostname, pid, queue FROM task_instance
         WHERE dag_id = %(dag)s AND task_id = %(task)s AND map_index = %(mi)s
        ORDER BY try_number"""
    with psycopg.connect(metadata_url, row_factory=dict_row) as conn:
        return conn.execute(query, {"dag": kill.dag_id, "task": kill.task_id, "mi": kill.map_index}).fetchall()


@contextmanager
def _metadata_database(build_dir: Path) -> Iterator[str]:
    """A database of its own for Airflow's metadata, on the server the demo environment will use.

    Set as ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` before the environment is prepared, so its
    ``airflow db migrate`` and pools land there. Dropped at the end (an embedded server lives in
    ``build_dir`` and is stopped by the environment first; its data goes with the directory).
    """
    from credsync_dev.localenv.postgres import ensure_server

    server = ensure_server(build_dir / "pgdata")
    name = server.temporary_database_name("airflow_celery")
    url = server.create_database(name)
    key = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
    previous = os.environ.get(key)
    os.environ[key] = sqlalchemy_url(url)
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous
        if not server.embedded:
            server.drop_database(name)


def _require_success(runs: list[dict[str, Any]], dag_ids, what: str) -> None:
    states = [(r["dag_id"], r["state"]) for r in runs]
    if states != [(d, "success") for d in dag_ids]:
        raise RuntimeError(f"{what} did not succeed: {states}")


def _admin(base: str, method: str, path: str, body: object | None) -> None:
    import requests

    requests.request(method, base + path, json=body, timeout=10).raise_for_status()


def _get_json(url: str, headers: dict[str, str], params: Mapping[str, object] | None = None) -> dict[str, Any]:
    import requests

    response = requests.get(url, headers=headers, params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def main(argv: list[str] | None = None) -> int:
    from credsync.paths import BUILD_DIR

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=BUILD_DIR / "celery-run")
    parser.add_argument("--linger", action="store_true", help="keep the cluster up after the run, until Ctrl-C")
    args = parser.parse_args(argv)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    try:
        result = run(args.work_dir, say=lambda m: print(m, flush=True), linger=args.linger)
    except BrokerUnavailable as exc:
        print(f"celery-run: {exc}", file=sys.stderr)
        return 2
    outside_differ = sorted(k for k, rows in result.reference_outside.items()
                            if rows != result.distributed_outside.get(k))
    print(json.dumps({"kill": result.kill.__dict__ if result.kill else None,
                      "killed_task_tries": result.killed_task_tries,
                      "differences": result.differences, "duplicates": result.duplicates,
                      "outside_rows": {k: len(v) for k, v in result.reference_outside.items()},
                      "outside_systems_differ": outside_differ}, indent=2, default=str))
    ok = (result.kill is not None and not result.differences and not any(result.duplicates.values())
          and not outside_differ and all(r["state"] == "success" for r in result.distributed_runs))
    # The embedded Postgres data dirs are the bulk of the work dir; logs and table dumps stay.
    for run_dir in ("reference", "distributed"):
        shutil.rmtree(args.work_dir / run_dir / "pgdata", ignore_errors=True)
    print(f"logs, table dumps (reference-tables.json, distributed-tables.json): {args.work_dir}")
    print("distributed run matches the reference run" if ok else "distributed run DIFFERS from the reference run")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
