"""A braked change set decided by a human through Airflow's HITL REST API on a real api-server.

The approval DAG runs as ``airflow dags test`` (Airflow's own run loop) against the api-server's
metadata DB: its ``approve`` task parks in AWAITING_INPUT, the test reads the Required Actions
entry (subject, the staged list) over ``/api/v2/.../hitlDetails`` and answers with PATCH, as the UI
does; ``decide`` then applies or parks the set on the real scim2-server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from credsync.hooks.scim import ScimHook
from tests.browser.airflow_server import airflow_api_server
from tests.integration.people.test_provisioning_guards import export, lms_users, provision, rows, terminate

# An api-server start and two `dags test` runs: minutes on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.ci_slow, pytest.mark.timeout(1200)]
DAG_ID = "scim_change_approval"


def brake_leavers(env, scim, leavers: list[str]) -> str:
    terminate(env, leavers, "2026-11-05")
    export(env)  # the shipped gate: a 40% wave loads and meets the brake
    report = provision(env)
    assert report["state"] == "awaiting_approval" and report["awaiting_approval"] == len(leavers), report
    return report["change_set_id"]


def wait_for_required_action(server, run: subprocess.Popen, change_set_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.poll() is not None:
            raise AssertionError(f"the approval run ended before asking:\n{run.stdout.read()[-4000:]}")
        response = server.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/~/hitlDetails")
        if response.status_code == 200:
            for detail in response.json()["hitl_details"]:
                if change_set_id in (detail.get("body") or "") and not detail["response_received"]:
                    return detail
        time.sleep(2)
    raise AssertionError("no Required Actions entry for the change set")


def decide_over_rest(server, home, change_set_id: str, answer: dict) -> dict:
    conf = json.dumps({"tenant_id": "acme", "change_set_id": change_set_id})
    run = subprocess.Popen([sys.executable, "-m", "airflow", "dags", "test", DAG_ID, "--conf", conf],
                           env=server.env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        detail = wait_for_required_action(server, run, change_set_id)
        ti = detail["task_instance"]
        path = (f"/api/v2/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
                f"{ti['map_index']}/hitlDetails")
        patched = server.api("PATCH", path, json=answer)
        assert patched.status_code == 200, patched.text
        output, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, output[-4000:]
    return detail


def test_required_action_shows_the_staged_list_reject_parks_it_and_approve_applies_exactly_it(
        people_env, tmp_path):
    env = people_env
    export(env)
    provision(env)
    scim = ScimHook("scim_acme", "acme").client()
    active = sorted(e for e, u in lms_users(scim).items() if u["active"] is True)
    first = active[: int(len(active) * 0.4)]
    first_set = brake_leavers(env, scim, first)

    with airflow_api_server(tmp_path / "airflow", warehouse_url=env.warehouse_url, extra_env={}) as server:
        before = lms_users(scim)
        detail = decide_over_rest(server, tmp_path, first_set,
                                  {"chosen_options": ["Reject"], "params_input": {"reason": "HRIS test file"}})
        assert detail["options"] == ["Approve", "Reject"]
        assert f"deactivate {len(first)}**" in detail["subject"] + detail["body"]
        assert all(f"| {e} | deactivate |" in detail["body"] for e in first), "the staged list is not shown"
        assert rows(env, "SELECT status, decided_by, reason FROM core.staged_change_sets WHERE change_set_id = %s",
                    first_set) == [("rejected", "admin", "HRIS test file")]
        assert lms_users(scim) == before, "a rejected set changed the LMS"

        # A second, smaller wave (still over the brake) is approved: exactly it is applied.
        remaining = sorted(e for e, u in lms_users(scim).items() if u["active"] is True and e not in first)
        second = remaining[:13]
        second_set = brake_leavers(env, scim, second)
        decide_over_rest(server, tmp_path, second_set, {"chosen_options": ["Approve"], "params_input": {"reason": ""}})
    users = lms_users(scim)
    assert sorted(e for e, u in users.items() if u["active"] is False and e in second) == second
    assert all(users[e]["active"] is True for e in first), "approval applied the rejected set"
    assert all(users[e]["active"] is True for e in remaining[13:])
    assert rows(env, "SELECT status, decided_by FROM core.staged_change_sets WHERE change_set_id = %s",
                second_set) == [("applied", "admin")]
    assert rows(env, "SELECT count(*) FROM core.scim_actions WHERE detail = %s",
                f"approved change set {second_set}")[0][0] == len(second)


def test_a_braked_provisioning_run_triggers_its_approval_run(people_env, sandboxes, tmp_path):
    """``scim_provisioning`` itself (``dags test``): the braked tenant's ``ask_approval`` triggers
    ``scim_change_approval`` for the staged set, the run id derived from it; nothing was deactivated."""
    env = people_env
    export(env)
    provision(env)
    scim = ScimHook("scim_acme", "acme").client()
    active = sorted(e for e, u in lms_users(scim).items() if u["active"] is True)
    leavers = active[: int(len(active) * 0.4)]
    terminate(env, leavers, "2026-11-05")
    export(env)
    scim_port = int(sandboxes.url("scim").rsplit(":", 1)[1])
    globex_scim = json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": scim_port, "schema": "http",
                              "password": sandboxes.env["SANDBOX_SCIM_TOKEN"]})
    with airflow_api_server(tmp_path / "airflow", warehouse_url=env.warehouse_url,
                            extra_env={"AIRFLOW_CONN_SCIM_GLOBEX": globex_scim}) as server:
        run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "scim_provisioning"], env=server.env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
        staged = rows(env, "SELECT change_set_id::text, dag_run_id, changes FROM core.staged_change_sets"
                           " WHERE tenant_id = 'acme' AND status = 'pending'")
        assert len(staged) == 1 and staged[0][2] == len(leavers), run.stdout[-4000:] + run.stderr[-4000:]
        change_set_id = staged[0][0]
        runs = server.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns").json()["dag_runs"]
        asked = [r for r in runs if r["dag_run_id"] == f"approval__acme__{change_set_id}"]
        assert len(asked) == 1, (runs, run.stdout[-3000:])
        assert asked[0]["conf"] == {"tenant_id": "acme", "change_set_id": change_set_id}
    assert all(lms_users(scim)[e]["active"] is True for e in leavers), "a braked run deactivated accounts"
