"""The erasure DAG itself: one real manual run (``dag.test()`` with the Params), then a rerun.

Beyond the flow tests: the Params reach the task, the report lands in the object store, and the
employee id appears in no XCom and no task log or output of the run (the conf keeps it: documented).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from credsync.warehouse import connect

ROOT = Path(__file__).resolve().parents[3]
WORKER = ("QX40917", "Isembard", "Thistlewaite", "isembard.thistlewaite@acme.example")

RUNNER = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

dag = DagBag(dag_folder=sys.argv[1]).dags["erasure"]
run = dag.test(run_conf=json.loads(sys.argv[2]))
with create_session() as session:
    rows = sorted((ti.task_id, ti.map_index, str(ti.state)) for ti in
                  session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id))
    xcoms = [json.dumps(x.value, default=str) for x in
             session.query(XComModel).filter(XComModel.run_id == run.run_id)]
print("RESULT " + json.dumps({"state": str(run.state), "tasks": rows, "xcoms": xcoms}))
"""


def _dag_test(home: Path, warehouse_url: str, store: Path, conf: dict, key: str) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_CREDSYNC_WAREHOUSE": warehouse_url,
        "AIRFLOW_CONN_CREDSYNC_PSEUDONYM_KEY": json.dumps({"conn_type": "generic", "password": key}),
        "CREDSYNC_OBJECT_STORE": store.as_uri(),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=900)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT / "dags" / "erasure.py"), json.dumps(conf)],
                          env=env, capture_output=True, text=True, timeout=900, cwd=home)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, f"the DAG run failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    result = json.loads(line[len("RESULT "):])
    result["logs"] = "\n".join(p.read_text(errors="replace") for p in (home / "logs").rglob("*") if p.is_file()) \
        if (home / "logs").exists() else ""
    result["output"] = done.stdout + done.stderr
    return result


@pytest.mark.ci_slow
@pytest.mark.timeout(1200)  # two Airflow databases and two dag.test() runs
def test_a_manual_erasure_run_pseudonymises_and_keeps_the_id_out_of_xcom(fresh_warehouse_url, tmp_path) -> None:
    employee_id, given, family, email = WORKER
    with connect(fresh_warehouse_url) as conn:
        conn.execute(
            "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
            " email_normalized, employment_status, employment_type, source_updated_at, mapping_version,"
            " last_batch_id) VALUES ('acme', %s, 'hris_main', %s, %s, %s, %s, 'active', 'contractor', now(), 'v1',"
            " %s)", (employee_id, given, family, email, email, uuid.uuid4()))
        conn.commit()
    store = tmp_path / "store"
    conf = {"tenant_id": "acme", "request_id": "DSR-2026-0042", "employee_id": employee_id}
    key = secrets.token_urlsafe(48)
    first = _dag_test(tmp_path / "home", fresh_warehouse_url, store, conf, key)
    assert first["state"] == "success", first["output"][-4000:]
    assert [t for t, _, s in first["tasks"] if s == "success"] == ["check_warehouse_schema", "erase", "requests"]
    for value in WORKER:
        assert value not in "\n".join(first["xcoms"]), f"{value} in an XCom"
        assert value not in first["logs"] + first["output"], f"{value} in a task log"
    with connect(fresh_warehouse_url) as conn:
        row = conn.execute("SELECT employee_id, given_name, employment_type FROM core.workers").fetchone()
        request = conn.execute("SELECT mode, status, runs FROM core.erasure_requests").fetchone()
    assert row[0].startswith("psn_") and row[1].startswith("psn_") and row[2] == "contractor"
    assert request == ("pseudonymise", "done", 1)
    reports = list((store / "reports" / "acme" / "erasure").glob("erasure_*.json"))
    assert len(reports) == 1 and json.loads(reports[0].read_text())["tables"] == {"core.workers": 1}

    # The same request again (a second trigger, a cleared run): nothing more happens.
    second = _dag_test(tmp_path / "again", fresh_warehouse_url, store, conf, key)
    assert second["state"] == "success", second["output"][-4000:]
    with connect(fresh_warehouse_url) as conn:
        assert conn.execute("SELECT runs FROM core.erasure_requests").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM audit.events WHERE event_type = 'worker_pseudonymised'"
                            ).fetchone()[0] == 1
    assert json.loads(next(x for x in second["xcoms"] if '"changed"' in x))["changed"] == 0
