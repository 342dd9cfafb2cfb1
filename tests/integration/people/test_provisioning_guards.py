"""Provisioning guards on the real scim2-server and a real warehouse: the brake on mass deactivations
(approve applies exactly the staged set, reject parks it), effective-dated terminations under a fixed
clock, and the failure budget that quarantines one tenant's failing SCIM target while another goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from credsync.hooks.hris import HrisHook
from credsync.hooks.scim import ScimClient, ScimHook
from credsync.people import brake, budget, flow, guard_steps
from credsync.people.provision import provision_tenant
from credsync.warehouse import connect

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow

# Seeded workers were hired before 2026-10-25 (sandbox.synth REFERENCE_DATE - 7 days): a clock after that.
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def export(env, tenant: str | None = None) -> dict:
    """One HRIS delta through stage -> gate -> merge, with the shipped gate thresholds
    (include/quality/hris_workers.yaml): the gate refuses only a broken feed (more than half of a
    tenant terminated); a 40% wave loads and meets the provisioning brake."""
    tenant = tenant or env.tenant
    staged = flow.extract_and_stage(env.warehouse_url, tenant_id=tenant,
                                    open_export=HrisHook(f"hris_{tenant}", tenant).export)
    return flow.merge(env.warehouse_url, flow.gate(env.warehouse_url, staged))


def provision(env, scim: ScimClient | None = None, *, tenant: str | None = None, now: datetime = NOW) -> dict:
    tenant = tenant or env.tenant
    with connect(env.warehouse_url) as conn:
        return provision_tenant(conn, scim or ScimHook(f"scim_{tenant}", tenant).client(), tenant_id=tenant,
                                now=now, dag_run_id="test").as_dict()


def lms_users(scim: ScimClient) -> dict[str, dict]:
    return {u["externalId"]: u for u in scim.iter_users()}


def rows(env, sql: str, *params: object) -> list[tuple]:
    with connect(env.warehouse_url) as conn:
        return conn.execute(sql, params).fetchall()


def terminate(env, employee_ids: list[str], day: str, tenant: str | None = None) -> None:
    for employee_id in employee_ids:
        requests.post(f"{env.hris_url}/admin/tenants/{tenant or env.tenant}/workers/{employee_id}/terminate",
                      json={"date": day, "webhook": False}, timeout=30).raise_for_status()


@pytest.fixture
def provisioned(people_env) -> tuple[object, ScimClient, list[str]]:
    """acme's 60 seeded workers exported and provisioned; returns the employee ids with an active account."""
    export(people_env)
    provision(people_env)
    scim = ScimHook(f"scim_{people_env.tenant}", people_env.tenant).client()
    active = sorted(e for e, u in lms_users(scim).items() if u["active"] is True)
    assert len(active) >= 40, "the seed should give most workers an active account"
    return people_env, scim, active


@pytest.fixture
def braked(provisioned) -> tuple[object, ScimClient, list[str], str]:
    """An HRIS delta terminating 40% of acme's active workers, through the shipped gate and
    include/tenants.yaml's brake (acme: 10 accounts and 20%): the run stops at the approval step."""
    env, scim, active = provisioned
    leavers = active[: int(len(active) * 0.4)]
    terminate(env, leavers, "2026-11-05")
    assert export(env)["updated"] == len(leavers), "the gate refused a 40% wave: the brake never saw it"
    writes_before = env.scim_stats()
    report = provision(env)
    assert report["state"] == "awaiting_approval"
    assert report["awaiting_approval"] == len(leavers) and report["change_set_id"]
    assert report.get("deactivate", 0) == 0
    assert env.scim_stats()["writes"] == writes_before["writes"], "a braked run wrote to the LMS"
    users = lms_users(scim)
    assert all(users[e]["active"] is True for e in leavers), "a staged deactivation reached the LMS"
    staged = rows(env, "SELECT employee_id FROM core.staged_changes WHERE change_set_id = %s ORDER BY 1",
                  report["change_set_id"])
    assert [r[0] for r in staged] == sorted(leavers)
    return env, scim, leavers, report["change_set_id"]


def test_brake_stages_the_mass_termination_and_approve_applies_exactly_that_set(braked):
    env, scim, leavers, change_set_id = braked
    # A rerun while the set is pending stages nothing new and still sends no deactivation.
    again = provision(env)
    assert again["change_set_id"] is None and again["awaiting_approval"] == len(leavers)
    assert rows(env, "SELECT count(*) FROM core.staged_change_sets")[0][0] == 1
    # One more leaver after staging: not part of the approved set.
    late = sorted(e for e, u in lms_users(scim).items() if u["active"] is True and e not in leavers)[0]
    terminate(env, [late], "2026-11-06")
    export(env)
    with connect(env.warehouse_url) as conn:
        result = brake.apply_change_set(conn, scim, tenant_id=env.tenant, change_set_id=change_set_id,
                                        decided_by="alice")
    assert result == {"change_set_id": change_set_id, "status": "applied", "applied": len(leavers),
                      "superseded": 0, "failed": 0}
    users = lms_users(scim)
    assert sorted(e for e in leavers if users[e]["active"] is False) == sorted(leavers)
    assert users[late]["active"] is True, "approval applied a change that was not staged"
    assert "DELETE" not in env.scim_stats()["requests"], "deprovisioning is active=false, never a DELETE"
    assert rows(env, "SELECT count(*) FROM core.scim_actions WHERE action = 'deactivate' AND detail = %s",
                f"approved change set {change_set_id}")[0][0] == len(leavers)
    assert rows(env, "SELECT status, decided_by FROM core.staged_change_sets WHERE change_set_id = %s",
                change_set_id) == [("applied", "alice")]
    # Approving twice (a cleared task) sends nothing again.
    with connect(env.warehouse_url) as conn:
        assert brake.apply_change_set(conn, scim, tenant_id=env.tenant, change_set_id=change_set_id,
                                      decided_by="alice")["already_decided"] is True
    # The next run applies the late leaver (one, below the brake) and nothing else.
    after = provision(env)
    assert after.get("deactivate") == 1 and after["pushed"] == 1 and after["change_set_id"] is None


def test_reject_leaves_scim_and_core_unchanged_and_is_not_asked_again(braked):
    env, scim, leavers, change_set_id = braked
    before_users = lms_users(scim)
    before_learners = rows(env, "SELECT employee_id, scim_id, active, synced_hash FROM core.learners ORDER BY 1")
    before_actions = rows(env, "SELECT count(*) FROM core.scim_actions")
    with connect(env.warehouse_url) as conn:
        result = brake.decide(conn, scim, tenant_id=env.tenant,
                              decision=brake.Decision(change_set_id, False, "bob", "HRIS sent a test file"))
    assert result["status"] == "rejected"
    assert rows(env, "SELECT status, decided_by, reason FROM core.staged_change_sets WHERE change_set_id = %s",
                change_set_id) == [("rejected", "bob", "HRIS sent a test file")]
    assert lms_users(scim) == before_users
    assert rows(env, "SELECT employee_id, scim_id, active, synced_hash FROM core.learners ORDER BY 1") == \
        before_learners
    assert rows(env, "SELECT count(*) FROM core.scim_actions") == before_actions
    # Later runs keep the rejected changes parked: no new set, nothing sent.
    report = provision(env)
    assert report["parked"] == len(leavers) and report["change_set_id"] is None and report["pushed"] == 0
    assert lms_users(scim) == before_users
    assert rows(env, "SELECT count(*) FROM core.staged_change_sets")[0][0] == 1


def test_expired_approval_applies_nothing_and_the_next_run_asks_again(braked):
    env, scim, leavers, change_set_id = braked
    with connect(env.warehouse_url) as conn:
        outcome = brake.decide(conn, scim, tenant_id=env.tenant,
                               decision=brake.decision_from_hitl(change_set_id, None))
    assert outcome["status"] == "expired"
    assert all(lms_users(scim)[e]["active"] is True for e in leavers)
    report = provision(env)
    assert report["change_set_id"] not in (None, change_set_id) and report["awaiting_approval"] == len(leavers)


def test_termination_dated_next_week_waits_for_its_date_in_the_tenant_time_zone(provisioned):
    env, scim, active = provisioned
    leaver = active[0]
    terminate(env, [leaver], "2026-11-17")  # exported today (2026-11-10), effective next week
    export(env)
    report = provision(env, now=NOW)
    assert report["held"] == 1 and report.get("deactivate", 0) == 0
    assert lms_users(scim)[leaver]["active"] is True
    assert rows(env, "SELECT change, effective_date::text, applied_at IS NULL FROM core.held_changes"
                " WHERE employee_id = %s", leaver) == [("termination", "2026-11-17", True)]
    # A run over other workers only (an approval's check, an employee_ids run) leaves this hold open.
    from credsync.people.provision import currently_inactive

    with connect(env.warehouse_url) as conn:
        assert currently_inactive(conn, env.tenant, [active[1]], now=NOW) == set()
    assert rows(env, "SELECT applied_at IS NULL FROM core.held_changes WHERE employee_id = %s", leaver) == [(True,)]
    # The evening before, in UTC, it is still 16 November in Berlin: held.
    assert provision(env, now=datetime(2026, 11, 16, 22, 30, tzinfo=UTC))["held"] == 1
    assert lms_users(scim)[leaver]["active"] is True
    # 23:30 UTC is already 17 November in Berlin (acme's time zone): deprovisioned that day, with no new export.
    on_the_day = provision(env, now=datetime(2026, 11, 16, 23, 30, tzinfo=UTC))
    assert on_the_day.get("deactivate") == 1 and on_the_day["held"] == 0
    assert lms_users(scim)[leaver]["active"] is False
    assert rows(env, "SELECT applied_at IS NOT NULL FROM core.held_changes WHERE employee_id = %s", leaver) == [(True,)]
    assert provision(env, now=NOW + timedelta(days=8))["pushed"] == 0


@pytest.fixture
def globex(people_env, sandboxes, monkeypatch):
    """A second tenant with its own HRIS seed and SCIM connection, for the failure budget."""
    token = json.loads(sandboxes.env["SANDBOX_HRIS_TOKENS"])["globex"]
    for name, password in (("hris", token), ("scim", sandboxes.env["SANDBOX_SCIM_TOKEN"])):
        port = int(sandboxes.url(name).rsplit(":", 1)[1])
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}_GLOBEX", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "password": password}))
    requests.post(f"{people_env.hris_url}/admin/tenants/globex/seed", json={"workers": 60, "seed": 12},
                  timeout=60).raise_for_status()
    return ScimHook("scim_globex", "globex").client()


def test_failing_target_is_quarantined_while_another_tenant_provisions_and_release_resumes_it(
        people_env, globex):
    env = people_env
    export(env)
    export(env, "globex")
    requests.put(f"{env.scim_url}/admin/faults", json={"error_rate": 0.6, "error_status": 503, "seed": 4,
                                                       "paths": ["/globex/"], "methods": ["POST", "PUT"]},
                 timeout=10).raise_for_status()
    tripped = provision(env, globex, tenant="globex")
    assert tripped["state"] == "quarantined"
    assert tripped["writes"] >= 20 and tripped["write_failures"] / tripped["writes"] > 0.5
    assert tripped["writes"] < 60, "the run should stop soon after the minimum sample"
    healthy = provision(env)  # acme, same SCIM server, same run window
    assert healthy["state"] == "provisioned" and healthy["failed"] == 0 and healthy["create"] >= 40
    # The run's guard_states alerts (fails) for the tenant it quarantined, and names only that one.
    with pytest.raises(guard_steps.NewQuarantine, match=r"quarantined in this run for globex \(") as alert:
        guard_steps.guard_states(env.warehouse_url, ["acme", "globex"], "test")
    assert "acme" not in str(alert.value)
    later = guard_steps.guard_states(env.warehouse_url, ["acme", "globex"], "a later run")
    assert later["globex"]["state"] == "quarantined" and later["acme"]["state"] == "provisioned"
    # Within the back-off: skipped without a single SCIM request.
    requests.delete(f"{env.scim_url}/admin/globex/stats", timeout=10)
    skipped = provision(env, globex, tenant="globex", now=NOW + timedelta(minutes=5))
    assert skipped["state"] == "quarantined" and skipped["writes"] == 0
    assert sum(requests.get(f"{env.scim_url}/admin/globex/stats", timeout=10).json()["requests"].values()) == 0
    # After the first back-off step (15 min) one probe runs; still failing: next step is 60 min.
    probe = provision(env, globex, tenant="globex", now=NOW + timedelta(minutes=16))
    assert probe["state"] == "quarantined" and probe["quarantine"]["strikes"] == 2
    assert datetime.fromisoformat(probe["quarantine"]["next_attempt_at"]) == NOW + timedelta(minutes=76)
    # The documented release step (CLI), once the target answers again.
    requests.delete(f"{env.scim_url}/admin/faults", timeout=10).raise_for_status()
    released = subprocess.run(
        [sys.executable, "-m", "credsync.people.budget", "release", "--url", env.warehouse_url, "--tenant", "globex",
         "--by", "oncall"], capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])})
    assert released.returncode == 0 and "globex: released" in released.stdout, released.stderr
    resumed = provision(env, globex, tenant="globex", now=NOW + timedelta(minutes=17))
    assert resumed["state"] == "provisioned" and resumed["failed"] == 0
    users = list(globex.iter_users())
    external_ids = [u["externalId"] for u in users]
    assert len(external_ids) == len(set(external_ids)), "release created duplicate accounts"
    expected = rows(env, "SELECT count(*) FROM core.workers WHERE tenant_id = 'globex'"
                    " AND employment_status = 'active'")[0][0]
    assert sum(1 for u in users if u["active"] is True) == expected
    assert provision(env, globex, tenant="globex", now=NOW + timedelta(minutes=18))["pushed"] == 0
    assert budget.current(connect(env.warehouse_url), "globex") is None


def test_409_on_create_means_exists_and_the_account_is_adopted_not_duplicated(people_env, monkeypatch):
    """A search index that lags a create (as Okta/Entra-facing targets' can): the look-up misses, the
    real scim2-server answers 409 on the create, the next look-up finds the account and it is adopted."""
    env = people_env
    export(env)
    scim = ScimHook("scim_acme", "acme").client()
    with connect(env.warehouse_url) as conn:
        employee_id, given, family = conn.execute(
            "SELECT employee_id, given_name, family_name FROM core.workers WHERE tenant_id = 'acme'"
            " AND employment_status = 'active' ORDER BY employee_id LIMIT 1").fetchone()
    real_iter, real_find = ScimClient.iter_users, ScimClient.find_user
    misses = {"left": 2}

    def listing_then_earlier_create(self):
        yield from real_iter(self)
        if misses["left"] == 2:  # an earlier run's create landed after this run listed the users
            real_create(self, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": employee_id,
                               "externalId": employee_id, "name": {"givenName": given, "familyName": family}})

    def lagging_find(self, attribute, value):
        if value == employee_id and misses["left"] > 0:
            misses["left"] -= 1
            return None
        return real_find(self, attribute, value)

    real_create = ScimClient.create_user
    monkeypatch.setattr(ScimClient, "iter_users", listing_then_earlier_create)
    monkeypatch.setattr(ScimClient, "find_user", lagging_find)
    report = provision(env, scim)
    assert report["conflicts"] == 0 and report["failed"] == 0
    assert misses["left"] == 0
    assert rows(env, "SELECT outcome, http_status FROM core.scim_actions WHERE employee_id = %s AND action = 'adopt'"
                " ORDER BY action_id LIMIT 1", employee_id) == [("ok", 200)]
    monkeypatch.undo()
    accounts = [u for u in scim.iter_users() if u["externalId"] == employee_id]
    assert len(accounts) == 1 and accounts[0]["active"] is True
    assert accounts[0]["name"]["formatted"], "the adopted account was not brought up to date"
    assert "DELETE" not in env.scim_stats()["requests"]
