"""The brake on mass group removals, on the real scim2-server with the shipped include/tenants.yaml brake.

An HRIS file blanks the department and site of 40% of acme's active workers (their accounts stay
active): Group Push would strip them from their groups. More than the brake's 10 memberships and
20% of them: the run stages the removals and sends none; the human's answer arrives the way the
HITL operator hands it to ``decide`` (its XCom: chosen option, responder, params), through the
same ``guard_steps.decide`` the approval DAG's task calls.
"""

from __future__ import annotations

import pytest

from credsync.hooks.hris import HrisHook
from credsync.people import guard_steps
from credsync.warehouse import connect
from tests.integration.people.test_group_push import lms_groups, patches, push, scim_id_of, sync_people

pytestmark = pytest.mark.slow


def rows(env, sql: str, *params: object) -> list[tuple]:
    with connect(env.warehouse_url) as conn:
        return conn.execute(sql, params).fetchall()


def blank_department_and_site(env, employee_ids: list[str]) -> None:
    """The HRIS drops department and location of these workers (a broken reorganisation file)."""
    workers = {w["employee_id"]: w for w in HrisHook(f"hris_{env.tenant}", env.tenant).export(None)}
    for employee_id in employee_ids:
        worker = workers[employee_id]
        worker["employment"].update(department=None, location=None)
        worker.pop("updated_at", None)
        env.hris_admin("PUT", f"workers/{employee_id}", json=worker)


def hitl(option: str, reason: str = "", user: str = "alice") -> dict:
    """What Airflow's HITL operator returns (its XCom) when someone answers in Required Actions."""
    return {"chosen_options": [option], "params_input": {"reason": reason}, "responded_by_user": {"name": user}}


def decide(env, change_set_id: str, answer: dict | None) -> dict:
    from credsync.groups.brake import apply_group_change_set
    from credsync.hooks.scim import ScimHook

    return guard_steps.decide(env.warehouse_url, ScimHook(f"scim_{env.tenant}", env.tenant).client(),
                              tenant_id=env.tenant, change_set_id=change_set_id, hitl_result=answer, run_id="approval",
                              apply_groups=apply_group_change_set)


@pytest.fixture
def braked_groups(people_env):
    env = people_env
    sync_people(env)
    push(env)
    active = [r[0] for r in rows(env, "SELECT employee_id FROM core.learners WHERE tenant_id = %s AND active"
                                      " ORDER BY employee_id", env.tenant)]
    before = lms_groups(env)
    movers = active[: int(len(active) * 0.4)]
    blank_department_and_site(env, movers)
    sync_people(env)  # the accounts stay active: provisioning only updates their department
    assert rows(env, "SELECT count(*) FROM core.learners WHERE tenant_id = %s AND active", env.tenant)[0][0] == \
        len(active)
    sent = patches(env)
    report = push(env, dag_run_id="run-1")
    assert report["change_set_id"] and report["awaiting_approval"] > 10, report
    # What GroupPushOperator triggers: scim_change_approval for this set, its run id derived from it.
    assert guard_steps.approval_trigger(env.warehouse_url, env.tenant, "run-1", "groups") == {
        "trigger_run_id": f"approval__{env.tenant}__{report['change_set_id']}",
        "conf": {"tenant_id": env.tenant, "change_set_id": report["change_set_id"]}}
    assert guard_steps.approval_trigger(env.warehouse_url, env.tenant, "run-1") is None, "no users set was staged"
    assert not report.get("remove") and patches(env) == sent, "a braked run removed members"
    assert lms_groups(env) == before
    staged = rows(env, "SELECT employee_id, group_key FROM core.staged_changes WHERE change_set_id = %s"
                       " ORDER BY 1, 2", report["change_set_id"])
    # Each mover leaves their department group and their site group: exactly those are staged.
    expected = sorted((e, g) for g, members in before.items() for e in movers if scim_id_of(env, e) in members
                      and (g.startswith("lms-dept-") or g.startswith("lms-site-")))
    assert staged == expected and len(staged) == report["awaiting_approval"]
    return env, movers, before, report["change_set_id"], staged


def test_required_action_lists_the_removals_and_reject_leaves_the_groups_with_the_reason(braked_groups) -> None:
    env, _movers, before, change_set_id, staged = braked_groups
    request = guard_steps.approval_request(env.warehouse_url, env.tenant, change_set_id)
    assert request["subject"] == f"{env.tenant}: approve {len(staged)} group membership removal(s)?"
    assert all(f"| {e} | remove_member | {g} |" in request["body"] for e, g in staged), request["body"]

    result = decide(env, change_set_id, hitl("Reject", "reorg file is wrong, HRIS ticket 77", "bob"))

    assert result["status"] == "rejected"
    assert rows(env, "SELECT kind, status, decided_by, reason FROM core.staged_change_sets WHERE change_set_id = %s",
                change_set_id) == [("groups", "rejected", "bob", "reorg file is wrong, HRIS ticket 77")]
    assert lms_groups(env) == before, "a rejected set changed the LMS groups"
    # Later runs keep the rejected removals parked: nothing staged again, nothing sent.
    sent = patches(env)
    again = push(env)
    assert again["parked"] == len(staged) and again["change_set_id"] is None and not again.get("remove")
    assert patches(env) == sent and lms_groups(env) == before
    assert rows(env, "SELECT count(*) FROM core.staged_change_sets")[0][0] == 1


def test_approve_applies_exactly_the_staged_removals(braked_groups) -> None:
    env, movers, before, change_set_id, staged = braked_groups
    # While the set is pending, a rerun stages nothing new and removes nobody.
    again = push(env)
    assert again["change_set_id"] is None and again["awaiting_approval"] == len(staged) and not again.get("remove")
    # One more worker loses their department after staging: not part of what is approved.
    late = sorted(e for e in (r[0] for r in rows(env, "SELECT employee_id FROM core.learners WHERE tenant_id = %s"
                                                      " AND active", env.tenant)) if e not in movers)[0]
    blank_department_and_site(env, [late])
    sync_people(env)
    sent = patches(env)

    result = decide(env, change_set_id, hitl("Approve"))

    touched = {g for _, g in staged}
    assert result == {"change_set_id": change_set_id, "status": "applied", "applied": len(staged),
                      "superseded": 0, "failed": 0}
    assert patches(env) - sent == len(touched), "one PATCH per group"
    after = lms_groups(env)
    for employee_id, group_key in staged:
        assert scim_id_of(env, employee_id) not in after[group_key]
    late_member = scim_id_of(env, late)
    assert all(late_member in after[g] for g, members in before.items() if late_member in members), \
        "approval applied a removal that was not staged"
    assert rows(env, "SELECT status, decided_by FROM core.staged_change_sets WHERE change_set_id = %s",
                change_set_id) == [("applied", "alice")]
    assert decide(env, change_set_id, hitl("Approve"))["already_decided"] is True
    # The next run removes the late worker (below the brake) and nothing else.
    next_run = push(env)
    assert next_run["change_set_id"] is None and next_run["remove"] == sum(
        1 for g, members in before.items() if late_member in members and g.split("-")[1] in ("dept", "site"))
    assert all(late_member not in members for g, members in lms_groups(env).items()
               if g.startswith(("lms-dept-", "lms-site-")))


def test_an_unanswered_approval_expires_and_the_next_run_asks_again(braked_groups) -> None:
    env, _movers, before, change_set_id, staged = braked_groups
    assert decide(env, change_set_id, None)["status"] == "expired"
    assert lms_groups(env) == before
    report = push(env)
    assert report["change_set_id"] not in (None, change_set_id) and report["awaiting_approval"] == len(staged)
