"""Group Push on the real scim2-server: HRIS (+ IdP) → core.group_memberships → SCIM Groups.

The PATCH counts are the SCIM server's own (the sandbox counts every request reaching
scim2-server per method), not a mock's.
"""

from __future__ import annotations

import pytest
import requests

from credsync.groups.push import push_groups
from credsync.groups.scim_groups import ScimGroups, member_ids
from credsync.hooks.hris import HrisHook
from credsync.hooks.scim import ScimHook
from credsync.people import flow
from credsync.people.provision import provision_tenant
from credsync.warehouse import connect

pytestmark = pytest.mark.slow


def sync_people(env) -> None:
    staged = flow.extract_and_stage(env.warehouse_url, tenant_id=env.tenant,
                                    open_export=HrisHook(f"hris_{env.tenant}", env.tenant).export)
    flow.merge(env.warehouse_url, flow.gate(env.warehouse_url, staged))
    with connect(env.warehouse_url) as conn:
        report = provision_tenant(conn, ScimHook(f"scim_{env.tenant}", env.tenant).client(), tenant_id=env.tenant)
    assert not report.failed


def push(env, **kwargs) -> dict:
    with connect(env.warehouse_url) as conn:
        return push_groups(conn, scim_groups(env), tenant_id=env.tenant, **kwargs).as_dict()


def scim_groups(env) -> ScimGroups:
    return ScimGroups(ScimHook(f"scim_{env.tenant}", env.tenant).client())


def lms_groups(env) -> dict[str, set[str]]:
    """externalId -> member SCIM ids, as the LMS holds them."""
    return {g.get("externalId"): member_ids(g) for g in scim_groups(env).iter_groups()}


def patches(env) -> int:
    return int(env.scim_stats()["requests"].get("PATCH", 0))


def scim_id_of(env, employee_id: str) -> str:
    with connect(env.warehouse_url) as conn:
        return conn.execute("SELECT scim_id FROM core.learners WHERE tenant_id = %s AND employee_id = %s",
                            (env.tenant, employee_id)).fetchone()[0]


def active_worker_in(env, department: str) -> dict:
    """An active worker of ``department`` as the HRIS serves it (the export's own document)."""
    with connect(env.warehouse_url) as conn:
        employee_id = conn.execute(
            "SELECT employee_id FROM core.workers WHERE tenant_id = %s AND department = %s"
            " AND employment_status = 'active' ORDER BY employee_id LIMIT 1", (env.tenant, department)).fetchone()[0]
    workers = HrisHook(f"hris_{env.tenant}", env.tenant).export(None)
    return next(w for w in workers if w["employee_id"] == employee_id)


def test_transfer_moves_the_worker_with_one_patch_remove_and_one_patch_add(people_env) -> None:
    env = people_env
    sync_people(env)
    first = push(env)
    assert not first["failed"] and first["create"] == first["groups"] > 0
    groups = lms_groups(env)
    assert sum(len(m) for m in groups.values()) == first["add"] > 0
    # Created empty, then filled by PATCH add: one PATCH per non-empty group.
    assert patches(env) == first["patches"] == sum(1 for m in groups.values() if m)

    worker = active_worker_in(env, "Warehouse")
    member = scim_id_of(env, worker["employee_id"])
    assert member in groups["lms-dept-warehouse"] and member not in groups["lms-dept-logistics"]
    worker["employment"]["department"] = "Logistics"
    env.hris_admin("PUT", f"workers/{worker['employee_id']}", json=worker)
    sync_people(env)

    before = patches(env)
    moved = push(env)

    assert patches(env) - before == 2 == moved["patches"]
    assert (moved["remove"], moved["add"]) == (1, 1)
    after = lms_groups(env)
    assert member not in after["lms-dept-warehouse"] and member in after["lms-dept-logistics"]
    others = {k: v for k, v in after.items() if k not in ("lms-dept-warehouse", "lms-dept-logistics")}
    assert others == {k: v for k, v in groups.items() if k in others}, "a group the transfer does not touch changed"

    stats = env.scim_stats()
    again = push(env)
    assert env.scim_stats()["requests"] == stats["requests"], "a rerun sent SCIM requests"
    assert again["patches"] == 0 and not again.get("add") and not again.get("remove")
    assert lms_groups(env) == after


def test_a_group_lost_in_the_lms_is_recreated_and_a_foreign_member_is_kept(people_env) -> None:
    env = people_env
    sync_people(env)
    push(env)
    scim = scim_groups(env)
    target = scim.find("lms-dept-manufacturing")
    token = env_scim_token(env)
    # An account the LMS made itself, added to a managed group by an LMS admin.
    outsider = requests.post(f"{env.scim_url}/{env.tenant}/v2/Users", timeout=10,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                   "userName": "lms-local-admin"}).json()
    scim.add_members(target["id"], [outsider["id"]])
    victim = scim.find("lms-dept-it")
    requests.delete(f"{env.scim_url}/{env.tenant}/v2/Groups/{victim['id']}", timeout=10,
                    headers={"Authorization": f"Bearer {token}"}).raise_for_status()

    result = push(env, full=True)

    assert result["create"] == 1 and not result["failed"]
    assert outsider["id"] in member_ids(scim.get(target["id"])), "a member credsync never provisioned was removed"
    assert scim.find("lms-dept-it")["id"] != victim["id"]


def env_scim_token(env) -> str:
    import json
    import os

    return json.loads(os.environ[f"AIRFLOW_CONN_SCIM_{env.tenant.upper()}"])["password"]


def reconcile(env, run: str) -> dict:
    from credsync.recon.groups import reconcile_tenant_groups

    return reconcile_tenant_groups(env.warehouse_url, env.tenant, dag_run_id=run)


def open_findings(env) -> dict[str, str]:
    with connect(env.warehouse_url) as conn:
        return dict(conn.execute(
            "SELECT entity_key, finding_type || '/' || action FROM recon.findings"
            " WHERE tenant_id = %s AND comparison = 'scim_groups' AND resolved_at IS NULL", (env.tenant,)).fetchall())


def test_reconciliation_finds_and_fixes_a_membership_drift_seeded_in_the_lms(people_env) -> None:
    env = people_env
    sync_people(env)
    push(env)
    clean = reconcile(env, "recon-1")
    assert clean["by_type"] == {} and clean["drift_rate"] == 0 and clean["population"] > 0

    # Drift seeded straight in the SCIM server, as an LMS admin would: a member removed from one
    # group, and another worker added to a group the mapping does not give them.
    scim = scim_groups(env)
    warehouse, it = scim.find("lms-dept-warehouse"), scim.find("lms-dept-it")
    dropped = sorted(member_ids(warehouse))[0]
    intruder = sorted(member_ids(scim.find("lms-dept-finance")))[0]
    scim.remove_members(warehouse["id"], [dropped])
    scim.add_members(it["id"], [intruder])
    before = patches(env)
    assert push(env)["patches"] == 0, "push alone cannot see drift made in the LMS (that is reconciliation's job)"

    found = reconcile(env, "recon-2")

    with connect(env.warehouse_url) as conn:
        dropped_worker, intruder_worker = (
            conn.execute("SELECT employee_id FROM core.learners WHERE tenant_id = %s AND scim_id = %s",
                         (env.tenant, s)).fetchone()[0]
            for s in (dropped, intruder))
    assert open_findings(env) == {
        f"lms-dept-warehouse:{dropped_worker}": "group_member_missing/auto_fixed",
        f"lms-dept-it:{intruder_worker}": "group_member_unexpected/auto_fixed",
    }
    assert found["auto_fixed"] == 2 and found["drift_rate"] > 0

    fixed = push(env)

    assert patches(env) - before == 2 == fixed["patches"], "one PATCH add and one PATCH remove"
    assert dropped in member_ids(scim.get(warehouse["id"])) and intruder not in member_ids(scim.get(it["id"]))
    after = reconcile(env, "recon-3")
    assert open_findings(env) == {} and after["resolved"] == 2 and after["drift_rate"] == 0
    with connect(env.warehouse_url) as conn:
        left = conn.execute("SELECT count(*) FROM core.scim_groups WHERE resync_requested_at IS NOT NULL").fetchone()
    assert left[0] == 0, "a group stays marked for re-push after it converged"


@pytest.fixture
def idp_env(people_env, sandboxes, monkeypatch):
    """The tenant's IdP connection (Okta-style SSWS token) on the IdP sandbox, emptied."""
    import json

    base = sandboxes.url("idp")
    requests.post(f"{base}/admin/reset", timeout=10).raise_for_status()
    requests.delete(f"{base}/admin/faults", timeout=10).raise_for_status()
    token = json.loads(sandboxes.env["SANDBOX_IDP_TOKENS"])[people_env.tenant]
    monkeypatch.setenv(f"AIRFLOW_CONN_IDP_{people_env.tenant.upper()}", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": int(base.rsplit(":", 1)[1]), "schema": "http",
        "password": token, "extra": {"base_path": "/{tenant}"}}))
    people_env.idp_url = base
    return people_env


def idp_directory(env, users: list[dict]) -> None:
    requests.put(f"{env.idp_url}/admin/tenants/{env.tenant}/directory", json={"users": users},
                 timeout=10).raise_for_status()


def ingest_idp(env) -> dict:
    from credsync.groups import idp_ingest
    from credsync.hooks.idp import IdpHook

    staged = idp_ingest.extract_and_stage(env.warehouse_url, tenant_id=env.tenant,
                                          idp=IdpHook(f"idp_{env.tenant}", env.tenant).client())
    return idp_ingest.merge(env.warehouse_url, idp_ingest.gate(env.warehouse_url, staged))


def active_employees(env) -> list[str]:
    with connect(env.warehouse_url) as conn:
        return [r[0] for r in conn.execute("SELECT employee_id FROM core.workers WHERE tenant_id = %s"
                                           " AND employment_status = 'active' ORDER BY employee_id", (env.tenant,))]


def test_idp_groups_and_roles_feed_the_mapping_through_the_gate(idp_env) -> None:
    from credsync.ingest.gate import BatchRejected

    env = idp_env
    sync_people(env)
    workers = active_employees(env)[:24]
    champions = workers[:3]
    idp_directory(env, [
        *({"employeeNumber": e, "roles": ["trainer"], "groups": ["Safety Champions"] if e in champions else []}
          for e in workers),
        {"login": "contractor@vendor.example", "roles": ["trainer"]},  # no employeeNumber: quarantined
    ])
    loaded = ingest_idp(env)
    assert (loaded["records_in"], loaded["loaded"], loaded["quarantined"]) == (28, 27, 1)
    assert ingest_idp(env)["changed"] is False, "the same listing again changed core.idp_claims"
    push(env)
    groups = lms_groups(env)
    assert groups["lms-safety-champions"] == {scim_id_of(env, e) for e in champions}
    assert groups["lms-role-trainers"] == {scim_id_of(env, e) for e in workers}

    requests.delete(f"{env.idp_url}/admin/tenants/{env.tenant}/groups/Safety Champions/members/{champions[0]}",
                    timeout=10).raise_for_status()
    ingest_idp(env)
    before = patches(env)
    left = push(env)
    assert patches(env) - before == 1 and left["remove"] == 1
    assert scim_id_of(env, champions[0]) not in lms_groups(env)["lms-safety-champions"]

    # An IdP answering an empty directory (an outage that says 200) is refused before core.
    idp_directory(env, [])
    with pytest.raises(BatchRejected, match="claim_drop"):
        ingest_idp(env)
    before = patches(env)
    assert push(env)["patches"] == 0 and patches(env) == before, "a refused IdP listing changed the LMS groups"


def test_a_deactivation_held_by_the_brake_keeps_the_worker_s_groups_until_decided(people_env) -> None:
    import uuid

    env = people_env
    sync_people(env)
    push(env)
    worker = active_worker_in(env, "Warehouse")
    employee, member = worker["employee_id"], scim_id_of(env, worker["employee_id"])
    change_set = str(uuid.uuid4())
    with connect(env.warehouse_url) as conn:  # a pending decision, as the brake stages one
        conn.execute("INSERT INTO core.staged_change_sets (change_set_id, tenant_id, changes, population, threshold)"
                     " VALUES (%s, %s, 1, 60, '{}')", (change_set, env.tenant))
        conn.execute("INSERT INTO core.staged_changes (tenant_id, change_set_id, employee_id, scim_id, action,"
                     " target, target_hash) VALUES (%s, %s, %s, %s, 'deactivate', '{}', 'x')",
                     (env.tenant, change_set, employee, member))
        conn.commit()
    env.hris_admin("POST", f"workers/{employee}/terminate", json={"webhook": False})
    sync_people(env)

    held = push(env)
    assert held["held"] >= 1 and not held.get("remove")
    assert member in lms_groups(env)["lms-dept-warehouse"]

    with connect(env.warehouse_url) as conn:  # rejected: SCIM stays as it was, groups included
        conn.execute("UPDATE core.staged_change_sets SET status = 'rejected' WHERE change_set_id = %s", (change_set,))
        conn.commit()
    assert push(env, full=True)["held"] == held["held"]
    assert member in lms_groups(env)["lms-dept-warehouse"]

    with connect(env.warehouse_url) as conn:  # approved and applied: the account is off, the groups follow
        conn.execute("UPDATE core.staged_change_sets SET status = 'applied' WHERE change_set_id = %s", (change_set,))
        conn.execute("UPDATE core.learners SET active = false WHERE tenant_id = %s AND employee_id = %s",
                     (env.tenant, employee))
        conn.commit()
    done = push(env)
    assert done["remove"] == held["held"] and not done.get("held")
    assert all(member not in members for members in lms_groups(env).values())


def test_a_group_that_leaves_the_mapping_is_released_and_left_in_the_lms(people_env) -> None:
    from dataclasses import replace

    from credsync.groups.mapping import load_group_mapping

    env = people_env
    sync_people(env)
    v1 = load_group_mapping()
    push(env, mapping=v1)
    kept = lms_groups(env)["lms-dept-it"]
    assert kept
    v2 = replace(v1, version="groups_v2", rules=tuple(r for r in v1.rules if r.target_group != "lms-dept-it"))

    stats = env.scim_stats()["requests"]
    released = push(env, mapping=v2, full=True)

    assert released["released"] == ["lms-dept-it"]
    assert lms_groups(env)["lms-dept-it"] == kept, "a released group was changed in the LMS"
    with connect(env.warehouse_url) as conn:
        row = conn.execute("SELECT managed, released_at IS NOT NULL FROM core.scim_groups"
                           " WHERE tenant_id = %s AND group_key = 'lms-dept-it'", (env.tenant,)).fetchone()
        members = conn.execute("SELECT count(*) FROM core.group_memberships WHERE group_key = 'lms-dept-it'").fetchone()
    assert row == (False, True) and members[0] == 0
    assert env.scim_stats()["requests"].get("PATCH", 0) == stats.get("PATCH", 0)
    assert push(env, mapping=v2)["released"] == [], "released twice"

    back = push(env, mapping=v1)
    assert back["released"] == [] and not back.get("create"), "a group coming back is re-created"
    assert lms_groups(env)["lms-dept-it"] == kept


def test_an_idp_listing_nobody_can_be_matched_in_is_refused_and_an_empty_one_loads(idp_env) -> None:
    from credsync.ingest.gate import BatchRejected

    env = idp_env
    sync_people(env)
    idp_directory(env, [])
    empty = ingest_idp(env)  # a tenant whose IdP holds nobody yet: nothing to judge, nothing changes
    assert (empty["records_in"], empty["changed"]) == (0, False)
    idp_directory(env, [{"login": f"user{n}@vendor.example", "roles": ["trainer"]} for n in range(3)])
    with pytest.raises(BatchRejected, match="all 3 claims of the batch are quarantined"):
        ingest_idp(env)


def test_push_converges_through_scim_faults_without_duplicate_groups(people_env, monkeypatch) -> None:
    env = people_env
    sync_people(env)
    # Fast retries: the policy's real back-off would only make the test slow.
    monkeypatch.setenv(f"AIRFLOW_CONN_SCIM_{env.tenant.upper()}", _with_extra(
        env, {"retry": {"initial_seconds": 0.01, "max_seconds": 0.05, "max_attempts": 8}}))
    requests.put(f"{env.scim_url}/admin/faults", timeout=10, json={
        "error_rate": 0.2, "burst_429": {"every": 7, "length": 1, "retry_after": 0}, "reset_rate": 0.1,
        "seed": 5, "paths": [f"/{env.tenant}/v2/Groups"]}).raise_for_status()
    first = push(env)
    requests.delete(f"{env.scim_url}/admin/faults", timeout=10).raise_for_status()
    second = push(env)  # whatever the faults left (a create whose answer was cut) converges here

    assert not second["failed"]
    listed = list(scim_groups(env).iter_groups())
    keys = [g["externalId"] for g in listed]
    assert len(keys) == len(set(keys)) == first["groups"], "a lost create answer made a second group"
    with connect(env.warehouse_url) as conn:
        wanted = conn.execute(
            "SELECT m.group_key, array_agg(l.scim_id ORDER BY l.scim_id) FROM core.group_memberships m"
            " JOIN core.learners l USING (tenant_id, employee_id) WHERE m.tenant_id = %s AND l.active"
            " GROUP BY m.group_key", (env.tenant,)).fetchall()
    assert {k: set(v) for k, v in wanted} == {k: v for k, v in lms_groups(env).items() if v}


def _with_extra(env, extra: dict) -> str:
    import json
    import os

    conn = json.loads(os.environ[f"AIRFLOW_CONN_SCIM_{env.tenant.upper()}"])
    return json.dumps({**conn, "extra": {**(conn.get("extra") or {}), **extra}})
