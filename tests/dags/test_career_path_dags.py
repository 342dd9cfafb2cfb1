"""The career-path DAGs themselves: real ``dag.test()`` runs, the HITL task answered as the REST API does.

``career_path_eligibility`` evaluates, its ``ask_approval`` triggers one ``career_path_approval`` run
per new case (the run id derived from case and ask); a rerun triggers nothing new. Each approval run
parks ``approve`` in AWAITING_INPUT; the runner answers it the way
``PATCH /api/v2/dags/.../taskInstances/approve/-1/hitlDetails`` does (it calls that route's own code,
``update_hitl_detail``, in process against the run's metadata DB, as tests/integration/people/
test_change_approval_hitl.py does over HTTP against an api-server), or lets the deadline pass and runs
the scheduler's own timeout sweep (``check_awaiting_input_timeouts``). ``decide`` then writes to the
real HRIS sandbox over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.careers.conftest import hris, hris_sandbox  # noqa: F401 (fixtures)
from tests.integration.careers.helpers import add_credential, add_worker, cases, hris_eligibility, put_hris_worker, rows

pytestmark = [pytest.mark.slow, pytest.mark.ci_slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]

RUNNER = r"""
import json, logging, os, sys, threading, time, traceback
from datetime import timedelta
from types import SimpleNamespace

from airflow.dag_processing.dagbag import DagBag
from airflow.models import DagRun, TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState

dag_id, conf, answer = sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
asked = []


class Responder:
    # The user the Core API hands the route (an auth manager's user: id and name).
    def __init__(self, name): self.name = name
    def get_id(self): return self.name
    def get_name(self): return self.name


def respond():
    try:
        answer_once()
    except Exception:  # dag.test() would wait for the answer for ever: fail the run now
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(3)


def answer_once():
    from sqlalchemy.orm import joinedload

    from airflow._shared.timezones import timezone
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with create_session() as session:
            ti = (session.query(TaskInstance).options(joinedload(TaskInstance.hitl_detail))
                  .filter(TaskInstance.dag_id == dag_id,
                                                     TaskInstance.state == TaskInstanceState.AWAITING_INPUT).first())
            if ti is not None:
                detail = ti.hitl_detail
                asked.append({"subject": detail.subject, "body": detail.body, "options": list(detail.options),
                              "timeout_set": ti.trigger_timeout is not None})
                if answer == "timeout":
                    ti.trigger_timeout = timezone.utcnow() - timedelta(seconds=1)  # the deadline has passed
                    session.flush()
                    SchedulerJobRunner.check_awaiting_input_timeouts(SimpleNamespace(log=logging.getLogger("sweep")),
                                                                     session=session)
                else:
                    update_hitl_detail(dag_id=dag_id, dag_run_id=ti.run_id, task_id=ti.task_id,
                                       update_hitl_detail_payload=UpdateHITLDetailPayload(
                                           chosen_options=answer["chosen_options"],
                                           params_input=answer["params_input"]),
                                       user=Responder(answer["user"]), session=session, map_index=ti.map_index)
                return
        time.sleep(1)
    raise TimeoutError("the approve task never reached awaiting_input")


if answer is not None:
    threading.Thread(target=respond, daemon=True).start()
dag = DagBag(dag_folder=sys.argv[1]).dags[dag_id]
run = dag.test(run_conf=conf or None)
with create_session() as session:
    tasks = sorted((ti.task_id, ti.map_index, str(ti.state)) for ti in
                   session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id))
    xcoms = {f"{x.task_id}:{x.map_index}:{x.key}": x.value for x in
             session.query(XComModel).filter(XComModel.run_id == run.run_id)}
    approvals = sorted((r.run_id, json.dumps(r.conf, sort_keys=True)) for r in
                       session.query(DagRun).filter(DagRun.dag_id == "career_path_approval",
                                                    DagRun.run_id.like("career__%")))  # not dag.test()'s own
print("RESULT " + json.dumps({"state": str(run.state), "tasks": tasks, "xcoms": xcoms, "approvals": approvals,
                              "asked": asked}, default=str))
"""


class Airflow:
    """One Airflow home (sqlite metadata DB) the runs share, with the warehouse and HRIS Connections."""

    def __init__(self, home: Path, warehouse_url: str, hris_port: int, tokens: dict[str, str]) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_CREDSYNC_WAREHOUSE": warehouse_url,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
            **{f"AIRFLOW_CONN_HRIS_{tenant.upper()}": json.dumps(
                {"conn_type": "http", "host": "127.0.0.1", "port": hris_port, "schema": "http", "password": token})
               for tenant, token in tokens.items()},
        }
        self.env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.env, check=True,
                       capture_output=True, timeout=900)

    def test(self, dag_id: str, conf: dict | None = None, answer: dict | str | None = None) -> dict:
        done = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT / "dags" / f"{dag_id}.py"), dag_id,
                               json.dumps(conf or {}), json.dumps(answer)],
                              env=self.env, capture_output=True, text=True, timeout=900, cwd=self.home)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        assert line, f"the {dag_id} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        result = json.loads(line[len("RESULT "):])
        result["output"] = done.stdout[-3000:] + done.stderr[-6000:]
        return result


def approve(user: str = "manager.m1") -> dict:
    return {"chosen_options": ["Approve"], "params_input": {"reason": ""}, "user": user}


def test_a_new_credential_asks_once_approve_writes_once_timeout_asks_again_reject_is_final(
        fresh_warehouse_url, hris, tmp_path):  # noqa: F811 (fixture)
    url = fresh_warehouse_url
    for worker in ("E1", "E2"):
        add_worker(url, worker)
        put_hris_worker(hris.url, worker)
        add_credential(url, worker, "forklift_operator")
        add_credential(url, worker, "first_responder")  # the new credential: senior-technician is met
    airflow = Airflow(tmp_path / "airflow", url, int(hris.url.rsplit(":", 1)[1]), hris.tokens)

    first = airflow.test("career_path_eligibility")
    assert first["state"] == "success", first["output"]
    case_of = {e: c for c, e in rows(url, "SELECT case_id::text, employee_id FROM core.career_eligibility_cases")}
    assert sorted(case_of) == ["E1", "E2"]
    expected = sorted([f"career__acme__{c}__1", json.dumps({"ask": 1, "case_id": c, "tenant_id": "acme"},
                                                            sort_keys=True)] for c in case_of.values())
    assert first["approvals"] == expected, "not exactly one approval run per new case"
    assert first["xcoms"]["evaluate_tenant.ask_approval:0:return_value"] == {"triggered": 2, "already_asked": 0,
                                                             "no_longer_pending": 0}

    rerun = airflow.test("career_path_eligibility")
    assert rerun["state"] == "success", rerun["output"]
    assert rerun["approvals"] == expected, "a rerun started another approval run"
    assert rerun["xcoms"]["evaluate_tenant.ask_approval:0:return_value"]["already_asked"] == 2

    # E1: approved in Required Actions -> written once to the HRIS profile, who and when recorded.
    one = airflow.test("career_path_approval", {"tenant_id": "acme", "case_id": case_of["E1"], "ask": 1}, approve())
    assert one["state"] == "success", one["output"]
    assert one["asked"][0]["options"] == ["Approve", "Reject"] and one["asked"][0]["timeout_set"] is True
    assert "E1 eligible for senior_technician" in one["asked"][0]["subject"]
    assert "nothing is promoted or paid" in one["asked"][0]["body"]
    assert one["xcoms"]["decide:-1:return_value"]["state"] == "approved"
    assert rows(url, "SELECT state, decided_by, hris_written_at IS NOT NULL FROM core.career_eligibility_cases"
                     " WHERE employee_id = 'E1'") == [("approved", "manager.m1", True)]
    assert hris_eligibility(hris.url, hris.client)[1] == {("E1", "senior_technician"): 1}

    # E2: nobody answers in time -> the case expires; the next evaluation asks again (ask 2).
    two = airflow.test("career_path_approval", {"tenant_id": "acme", "case_id": case_of["E2"], "ask": 1}, "timeout")
    assert ("approve", -1, "failed") in [tuple(t) for t in two["tasks"]], two["output"]
    assert ("decide", -1, "success") in [tuple(t) for t in two["tasks"]], two["output"]
    assert [c[3:5] for c in cases(url) if c[0] == "E2"] == [("expired", 1)]
    again = airflow.test("career_path_eligibility")
    assert [r for r, _ in again["approvals"]] == sorted(
        [r for r, _ in expected] + [f"career__acme__{case_of['E2']}__2"])

    # E2, second ask: rejected with a reason -> final for this rule version.
    three = airflow.test("career_path_approval", {"tenant_id": "acme", "case_id": case_of["E2"], "ask": 2},
                         {"chosen_options": ["Reject"], "params_input": {"reason": "transfer pending"},
                          "user": "hrbp.ops"})
    assert three["state"] == "success", three["output"]
    assert [c[3:] for c in cases(url) if c[0] == "E2"] == [("rejected", 2, "manager", "M1", "transfer pending")]

    last = airflow.test("career_path_eligibility")
    assert len(last["approvals"]) == 3, "a decided case was asked again"
    assert hris_eligibility(hris.url, hris.client)[1] == {("E1", "senior_technician"): 1}
    assert rows(url, "SELECT count(*) FROM core.career_eligibility_cases") == [(2,)]
