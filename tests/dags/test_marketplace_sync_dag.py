"""The marketplace_sync DAG itself: real runs (``dag.test()``) against the marketplace sandbox and Postgres.

Scheduler expansion over the tenants, the operators, the task runner and the execution API run in a
subprocess with its own AIRFLOW_HOME and SQLite metadata DB; the warehouse and the marketplace are
reached through their Connections as a deployment would (the demo's generated ones).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from credsync.tenants import load_tenants
from credsync.warehouse import connect
from credsync_dev.localenv.airflow_env import sandbox_connections_env
from sandbox.launcher import generate_secrets, start_all
from tests.conftest import migrated_database
from tests.integration.marketplace.test_marketplace_sync import seed

ROOT = Path(__file__).resolve().parents[2]

RUNNER = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models import TaskInstance
from airflow.utils.session import create_session

dag = DagBag(dag_folder=sys.argv[1]).dags["marketplace_sync"]
run = dag.test()
with create_session() as session:
    rows = sorted((ti.task_id, ti.map_index, str(ti.state)) for ti in
                  session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id))
print("RESULT " + json.dumps({"state": str(run.state), "tasks": rows}))
"""


def _dag_test(home: Path, env: dict[str, str]) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    env = {**env, "AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=900)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT / "dags" / "marketplace_sync.py")],
                          env=env, capture_output=True, text=True, timeout=900, cwd=home)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, f"the DAG run failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads(line[len("RESULT "):])


@pytest.mark.ci_slow
def test_a_dag_run_syncs_each_tenant_and_a_second_run_sends_nothing(postgres_server, tmp_path):
    tenants = load_tenants()
    secrets = dict(generate_secrets([t.tenant_id for t in tenants]))
    with migrated_database(postgres_server) as url, \
            start_all(tmp_path / "sandbox", env=secrets, names=["marketplace"]) as running:
        seed(url, "acme", workers=4)
        urls = {"marketplace": running.url("marketplace"), "registry": "http://127.0.0.1:9", "hris": "http://127.0.0.1:9",
                "lrs": "http://127.0.0.1:9", "scim": "http://127.0.0.1:9"}
        env = {
            **os.environ,
            **sandbox_connections_env(tenants, urls, secrets),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_CREDSYNC_WAREHOUSE": url,
            "AIRFLOW_CONN_CREDSYNC_PSEUDONYM_KEY": json.dumps({"conn_type": "generic", "password": "k" * 40}),
            "CREDSYNC_MARKETPLACE_STORE": (tmp_path / "store").as_uri(),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        first = _dag_test(tmp_path / "first", env)
        assert first["state"] == "success", first
        for task in ("sync_tenant.initial_sync", "sync_tenant.events", "sync_tenant.reconcile"):
            assert [task, 0, "success"] in first["tasks"] and [task, 1, "success"] in first["tasks"], first
        market = httpx.get(f"{running.admin('marketplace')}/state", timeout=10).json()
        assert Counter(m["tenant"] for m in market["members"]) == {"acme": 4}
        with connect(url) as conn:
            syncs = conn.execute("SELECT tenant_id, status, members FROM core.marketplace_syncs ORDER BY 1").fetchall()
            runs = conn.execute("SELECT tenant_id, kind, drift_share FROM recon.marketplace_runs ORDER BY 1").fetchall()
        assert syncs == [("acme", "completed", 4), ("globex", "completed", 0)]
        assert [(t, k, float(d)) for t, k, d in runs] == [("acme", "initial", 0.0), ("globex", "initial", 0.0)]
        writes = len(market["idempotency_keys"])

        second = _dag_test(tmp_path / "second", env)
        assert second["state"] == "success", second
        market = httpx.get(f"{running.admin('marketplace')}/state", timeout=10).json()
        assert len(market["idempotency_keys"]) == writes, "the rerun wrote to the marketplace again"
        assert len(market["imports"]) == 1
        with connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM recon.marketplace_runs").fetchone()[0] == 2
            revoked = conn.execute("SELECT count(*) FROM audit.events WHERE event_type = 'marketplace.token_revoked'"
                                   ).fetchone()[0]
        assert revoked > 0
