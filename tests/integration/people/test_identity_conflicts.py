"""Identity conflicts over real HTTP (HRIS sandbox + the real scim2-server) and a real Postgres.

The takeover these guard against: HRIS worker ``e000739`` is not found by
``externalId``, the ``userName`` fallback matches case-insensitively on the
SCIM server and returns terminated ``E000739``'s account, which used to be
"adopted" (renamed, reactivated) before core.learners refused the binding on
every run, blocking the rest of the tenant.
"""

from __future__ import annotations

import pytest

from credsync.hooks.hris import HrisHook
from credsync.hooks.scim import ScimHook
from credsync.people import flow
from credsync.people.provision import provision_tenant
from credsync.warehouse import connect

pytestmark = pytest.mark.slow

TERMINATED = "E000739"
VARIANT = "e000739"
NEWCOMER = "E000800"


def hris_worker(employee_id: str, given: str, family: str, *, status: str = "active",
                manager_id: str | None = None) -> dict:
    return {
        "employee_id": employee_id, "source_system": "hris_main",
        "name": {"given": given, "family": family},
        "emails": {"work": f"{given.lower()}.{family.lower()}@acme.example"},
        "employment": {"status": status, "type": "employee", "hire_date": "2020-01-06",
                       "termination_date": "2024-03-29" if status == "terminated" else None,
                       "department": "Ops", "job_title": "Operator", "manager_id": manager_id},
        "compensation": {"salary_band": "B2"},
    }


def put_hris(env, *workers: dict) -> None:
    for worker in workers:
        env.hris_admin("PUT", f"workers/{worker['employee_id']}", json=worker)


def export(env, *, id_case: str | None = None) -> dict:
    policy = {"id_case": id_case} if id_case else {}  # None: the default policy (preserve)
    staged = flow.extract_and_stage(env.warehouse_url, tenant_id=env.tenant, **policy,
                                    open_export=HrisHook(f"hris_{env.tenant}", env.tenant).export)
    return flow.merge(env.warehouse_url, flow.gate(env.warehouse_url, staged))


def provision(env) -> dict:
    with connect(env.warehouse_url) as conn:
        return provision_tenant(conn, ScimHook(f"scim_{env.tenant}", env.tenant).client(),
                                tenant_id=env.tenant).as_dict()


def scim(env):
    return ScimHook(f"scim_{env.tenant}", env.tenant).client()


def exact_user(env, attribute: str, value: str) -> dict | None:
    """The user whose ``attribute`` is ``value`` byte for byte (the server's filter folds case)."""
    return next((u for u in scim(env).iter_users() if u.get(attribute) == value), None)


def rows(env, sql: str, *params: object) -> list[tuple]:
    with connect(env.warehouse_url) as conn:
        return conn.execute(sql, params).fetchall()


def history_counts(env) -> tuple[int, int, int]:
    return (rows(env, "SELECT count(*) FROM audit.dead_letters")[0][0],
            rows(env, "SELECT count(*) FROM core.scim_actions")[0][0],
            rows(env, "SELECT count(*) FROM audit.events")[0][0])


@pytest.fixture
def terminated_account(people_env) -> dict:
    """``E000739`` hired, provisioned, then terminated: an inactive LMS account bound in core.learners."""
    env = people_env
    put_hris(env, hris_worker(TERMINATED, "Tom", "Old"))
    export(env)
    provision(env)
    env.hris_admin("POST", f"workers/{TERMINATED}/terminate", json={"date": "2024-03-29", "webhook": False})
    export(env)
    assert provision(env)["deactivate"] == 1
    account = exact_user(env, "externalId", TERMINATED)
    assert account is not None and account["active"] is False
    assert rows(env, "SELECT scim_id FROM core.learners WHERE employee_id = %s", TERMINATED) == [(account["id"],)]
    return account


def test_case_variant_id_never_adopts_a_bound_account_and_the_tenant_goes_on(people_env, terminated_account):
    env, account = people_env, terminated_account
    put_hris(env, hris_worker(VARIANT, "Eve", "Intruder"), hris_worker(NEWCOMER, "Nia", "New"))
    merged = export(env)
    assert merged["inserted"] == 2  # under `preserve` these are two new people

    report = provision(env)

    assert report["conflicts"] == 1 and report["failed"] == 0
    after = scim(env).api.request("GET", f"Users/{account['id']}").json()
    for attribute in ("userName", "externalId", "name", "displayName", "active", "emails"):
        assert after.get(attribute) == account.get(attribute), f"E000739's account changed: {attribute}"
    assert exact_user(env, "externalId", VARIANT) is None, "no account for the conflicting worker"
    newcomer = exact_user(env, "externalId", NEWCOMER)
    assert newcomer is not None and newcomer["active"] is True, "the rest of the tenant is provisioned"
    assert rows(env, "SELECT employee_id, scim_id FROM core.learners WHERE scim_id = %s", account["id"]) == \
        [(TERMINATED, account["id"])]
    letters = rows(env, "SELECT source, entity_key, reason, status, attempts, detail FROM audit.dead_letters")
    assert len(letters) == 1
    source, key, reason, status, attempts, detail = letters[0]
    assert (source, key, reason, status, attempts) == ("scim", VARIANT, "identity_conflict", "open", 1)
    assert detail["employee_id"] == VARIANT and detail["bound_employee_id"] == TERMINATED
    assert detail["scim_id"] == account["id"]
    assert VARIANT in detail["message"] and TERMINATED in detail["message"]
    assert rows(env, "SELECT employee_id, scim_id, outcome FROM core.scim_actions WHERE outcome <> 'ok'") == \
        [(VARIANT, account["id"], "conflict")]

    before, writes = history_counts(env), env.scim_stats()["writes"]
    again = provision(env)

    assert again["conflicts"] == 1 and again["pushed"] == 0
    assert history_counts(env) == before, "a rerun adds no dead letter, action or audit event"
    assert env.scim_stats()["writes"] == writes
    assert rows(env, "SELECT attempts FROM audit.dead_letters") == [(1,)]

    # Resolved at the source: the HRIS withdraws the mistyped record; the next run closes the letter.
    env.hris_admin("POST", f"workers/{VARIANT}/terminate", json={"date": "2024-04-01", "webhook": False})
    export(env)
    resolved = provision(env)
    assert resolved["conflicts"] == 0
    assert rows(env, "SELECT status FROM audit.dead_letters") == [("replayed",)]
    assert exact_user(env, "externalId", TERMINATED)["active"] is False


def test_account_rebound_in_the_lms_is_not_taken_over(people_env, terminated_account):
    """An LMS admin points E000739's account at another employee (externalId edited): still E000739's.

    The old code found the account by exact externalId, rewrote it for the new worker and then hit
    UniqueViolation on core.learners (tenant_id, scim_id) on every run.
    """
    env, account = people_env, terminated_account
    other = "E000801"
    edited = {k: v for k, v in account.items() if k not in ("id", "meta")}
    edited["externalId"] = other
    scim(env).replace_user(account["id"], edited, version=None)
    put_hris(env, hris_worker(other, "Ola", "Other"), hris_worker(NEWCOMER, "Nia", "New"))
    export(env)

    report = provision(env)

    assert report["conflicts"] == 1 and report["failed"] == 0
    after = scim(env).api.request("GET", f"Users/{account['id']}").json()
    assert (after["userName"], after["active"], after["name"]) == (TERMINATED, False, account["name"])
    assert exact_user(env, "externalId", NEWCOMER) is not None
    ((key, detail),) = rows(env, "SELECT entity_key, detail FROM audit.dead_letters")
    assert key == other and detail["bound_employee_id"] == TERMINATED and detail["scim_id"] == account["id"]
    before = history_counts(env)
    assert provision(env)["conflicts"] == 1
    assert history_counts(env) == before


def test_upper_case_policy_makes_the_variant_the_same_worker(people_env, terminated_account):
    """Under ``identity: {case: upper}`` the HRIS says case is noise: e000739 is E000739's rehire."""
    env, account = people_env, terminated_account
    put_hris(env, hris_worker(NEWCOMER, "Nia", "New"))
    export(env, id_case="upper")
    put_hris(env, hris_worker(VARIANT, "Tom", "Old", manager_id=NEWCOMER.lower()))

    merged = export(env, id_case="upper")
    assert (merged["inserted"], merged["updated"]) == (0, 1)
    assert rows(env, "SELECT employee_id, employment_status, manager_id FROM core.workers"
                     " WHERE upper(employee_id) = %s", TERMINATED) == [(TERMINATED, "active", NEWCOMER)]

    report = provision(env)

    assert report["conflicts"] == 0 and report["failed"] == 0 and report["reactivate"] == 1
    after = exact_user(env, "externalId", TERMINATED)
    assert after["id"] == account["id"] and after["active"] is True, "the same account, reactivated"
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert after[enterprise]["manager"]["value"] == exact_user(env, "externalId", NEWCOMER)["id"]
    assert rows(env, "SELECT count(*) FROM audit.dead_letters") == [(0,)]


def test_learner_binding_race_becomes_a_conflict_not_an_error(fresh_warehouse_url):
    """core.learners refusing a binding (UniqueViolation) is a conflict naming both ids, never raised past."""
    from credsync.people import provision as prov

    with connect(fresh_warehouse_url) as conn:
        conn.execute("INSERT INTO core.learners (tenant_id, employee_id, scim_id, user_name, active, synced_hash)"
                     " VALUES ('acme', %s, 'scim-1', %s, false, 'h')", (TERMINATED, TERMINATED))
        conn.commit()
        conn.execute("SELECT 1")  # work already in the worker's transaction survives the refusal
        with pytest.raises(Exception) as caught:  # the type is the assertion below
            prov._upsert_learner(conn, "acme", VARIANT, {"id": "scim-1", "userName": TERMINATED, "active": True})
        assert type(caught.value).__name__ == "IdentityConflict", f"raised {caught.value!r}"
        assert (caught.value.employee_id, caught.value.bound_to, caught.value.scim_id) == \
            (VARIANT, TERMINATED, "scim-1")
        assert conn.execute("SELECT count(*) FROM core.learners").fetchone()[0] == 1  # transaction still usable
        conn.rollback()


def test_lms_refusing_the_username_without_a_match_is_a_conflict(people_env, monkeypatch):
    """A 409 no look-up explains (a server whose filters and uniqueness disagree) parks the worker."""
    env = people_env
    put_hris(env, hris_worker(VARIANT, "Eve", "Intruder"), hris_worker(NEWCOMER, "Nia", "New"))
    export(env)
    from credsync.hooks.scim import ScimClient

    real_find = ScimClient.find_user
    # The fault: this server's filter misses the case variant its uniqueness rule still sees.
    monkeypatch.setattr(ScimClient, "find_user",
                        lambda self, attribute, value: None if value == VARIANT else real_find(self, attribute, value))
    scim(env).create_user({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": TERMINATED})

    report = provision(env)

    assert report["conflicts"] == 1 and report["failed"] == 0
    assert exact_user(env, "externalId", NEWCOMER) is not None
    ((key, detail),) = rows(env, "SELECT entity_key, detail FROM audit.dead_letters")
    assert key == VARIANT and detail["user_name"] == VARIANT and "409" in detail["rule"]
