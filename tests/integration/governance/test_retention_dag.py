"""The retention DAG itself, one real run (``dag.test()``) on the synthetic history of test_retention.py.

Scheduler expansion over the tenants, the task runner and the execution API run in a subprocess
with its own AIRFLOW_HOME and SQLite metadata DB; the warehouse is the test's real Postgres,
reached through the ``credsync_warehouse`` Connection as a deployment would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from credsync.audit import verify_chain
from credsync.warehouse import connect
from tests.integration.governance.test_retention import AS_OF, _counts, history  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[3]

RUNNER = """
import json, sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag
from airflow.models import TaskInstance
from airflow.utils.session import create_session

dag = DagBag(dag_folder=sys.argv[1]).dags["retention"]
run = dag.test(logical_date=datetime.fromisoformat(sys.argv[2]))
with create_session() as session:
    rows = sorted((ti.task_id, ti.map_index, str(ti.state)) for ti in
                  session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id))
print("RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id, "tasks": rows}))
"""


def _dag_test(tmp_path: Path, warehouse_url: str) -> dict:
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_CREDSYNC_WAREHOUSE": warehouse_url,
        "CREDSYNC_RETENTION_REPORT_STORE": (tmp_path / "reports").as_uri(),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("CREDSYNC_OBJECT_STORE", None)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=900)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT / "dags" / "retention.py"), AS_OF.isoformat()],
                          env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, f"the DAG run failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads(line[len("RESULT "):])


@pytest.mark.ci_slow
def test_a_dag_run_applies_retention_per_tenant_and_a_second_run_changes_nothing(history, tmp_path):  # noqa: F811
    url, _ = history
    before = {t: _counts(url, t) for t in ("acme", "globex")}

    first = _dag_test(tmp_path / "first", url)

    assert first["state"] == "success", first
    assert ["apply_retention_policies", 0, "success"] in first["tasks"]
    assert ["apply_retention_policies", 1, "success"] in first["tasks"]
    after = {t: _counts(url, t) for t in ("acme", "globex")}
    for tenant in ("acme", "globex"):  # the same history for both: the same rows go
        assert before[tenant]["staging.hris_workers"] - after[tenant]["staging.hris_workers"] == 3
        assert before[tenant]["staging.completions"] - after[tenant]["staging.completions"] == 2
    with connect(url) as conn:
        assert verify_chain(conn).ok
        runs = conn.execute("SELECT tenant_id, total, report_url FROM audit.retention_runs ORDER BY 1").fetchall()
    assert [(t, total > 0) for t, total, _ in runs] == [("acme", True), ("globex", True)]
    assert all(Path(u.removeprefix("file://")).exists() for _, _, u in runs)

    second = _dag_test(tmp_path / "second", url)

    assert second["state"] == "success", second
    assert {t: _counts(url, t) for t in ("acme", "globex")} == after
