"""HRIS → core.workers → LMS over real HTTP (HRIS + SCIM sandboxes) and a real Postgres."""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import requests

from credsync.hooks.hris import HrisHook
from credsync.hooks.scim import ScimHook
from credsync.ingest.gate import BatchRejected
from credsync.people import flow
from credsync.people.provision import provision_tenant
from credsync.warehouse import connect

pytestmark = pytest.mark.slow


def export_once(env, *, full: bool = False, open_export=None) -> dict:
    open_export = open_export or HrisHook(f"hris_{env.tenant}", env.tenant).export
    staged = flow.extract_and_stage(env.warehouse_url, tenant_id=env.tenant, open_export=open_export, full=full)
    return flow.merge(env.warehouse_url, flow.gate(env.warehouse_url, staged))


def provision(env, **kwargs) -> dict:
    with connect(env.warehouse_url) as conn:
        return provision_tenant(conn, ScimHook(f"scim_{env.tenant}", env.tenant).client(),
                                tenant_id=env.tenant, **kwargs).as_dict()


def lms_users(env) -> list[dict]:
    return list(ScimHook(f"scim_{env.tenant}", env.tenant).client().iter_users())


def table_hash(env, table: str) -> str:
    with connect(env.warehouse_url) as conn:
        rows = conn.execute(f"SELECT t::text FROM {table} t ORDER BY 1").fetchall()
    return hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()


def count(env, sql: str, *params: object) -> int:
    with connect(env.warehouse_url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_delta_export_reconciles_counts_and_rerun_changes_nothing(people_env) -> None:
    first = export_once(people_env)
    assert first["records_in"] == 60 == first["loaded"] + first["quarantined"]
    assert count(people_env, "SELECT count(*) FROM core.workers") == first["loaded"]
    assert count(people_env, "SELECT count(DISTINCT mapping_version) FROM core.workers") == 1
    before = (table_hash(people_env, "core.workers"), table_hash(people_env, "core.worker_changes"))

    second = export_once(people_env)

    assert second["records_in"] == 0 and not second["changed"]
    assert (table_hash(people_env, "core.workers"), table_hash(people_env, "core.worker_changes")) == before
    full_again = export_once(people_env, full=True)  # a full reload of identical data is a no-op too
    assert full_again["records_in"] == 60 and full_again["inserted"] == full_again["updated"] == 0
    assert table_hash(people_env, "core.workers") == before[0]
    with connect(people_env.warehouse_url) as conn:
        bad = conn.execute(
            "SELECT count(*) FROM audit.batches"
            " WHERE records_in <> records_loaded + records_quarantined + records_dead"
        ).fetchone()[0]
    assert bad == 0


def test_identity_edge_cases_end_in_the_right_lms_state(people_env) -> None:
    env = people_env
    export_once(env)
    provision(env)
    before = {u["externalId"]: u for u in lms_users(env)}
    kinds: dict[str, list[str]] = {}
    for day in range(1, 16):
        for kind, ids in env.hris_admin("POST", f"changes/{day}")["by_kind"].items():
            kinds.setdefault(kind, []).extend(ids)
    merged = export_once(env)
    assert merged["updated"] > 0
    first = provision(env)
    assert first["failed"] == 0

    users = lms_users(env)
    by_external = {u["externalId"]: u for u in users}
    assert len(by_external) == len(users), "one LMS account per employee"
    assert Counter(u["userName"] for u in users).most_common(1)[0][1] == 1
    with connect(env.warehouse_url) as conn:
        workers = conn.execute(
            "SELECT employee_id, employment_status, work_email, family_name, email_normalized, department,"
            " manager_id, employment_type, source_system FROM core.workers"
        ).fetchall()
    scim_id_of = {u["externalId"]: u["id"] for u in users}
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    for employee_id, status, email, family, _, department, manager_id, employment_type, _ in workers:
        user = by_external.get(employee_id)
        if status == "active":
            assert user is not None and user["active"] is True, employee_id
            assert [e["value"] for e in user.get("emails", [])] == ([email] if email else []), employee_id
            assert user["name"]["familyName"] == family
            assert user[enterprise].get("department") == department, employee_id
            assert user["userType"] == employment_type, employee_id
            if manager_id in scim_id_of:
                assert user[enterprise]["manager"]["value"] == scim_id_of[manager_id], employee_id
        elif user is not None:
            assert user["active"] is False, f"{employee_id} is {status} but its LMS account is active"
    # Every identity edge case of the synthetic workforce occurred in this run.
    assert {"hire", "rehire", "return", "terminate", "email_change", "name_change", "transfer",
            "manager_change", "leave"} <= set(kinds), sorted(kinds)
    assert {w[7] for w in workers} >= {"employee", "contractor"}
    assert len({w[8] for w in workers}) >= 2, "workers from two identity sources (acquisition)"
    for employee_id in (kinds["email_change"] + kinds["rehire"] + kinds["terminate"] + kinds["transfer"]
                        + kinds["leave"] + kinds["return"]):
        if employee_id in before:
            assert by_external[employee_id]["id"] == before[employee_id]["id"], f"{employee_id} got a new account"
    # Two people sharing an email stay two accounts.
    emails = Counter(w[4] for w in workers if w[4] and w[0] in by_external)
    shared = [e for e, n in emails.items() if n > 1]
    assert shared, "the synthetic workforce carries duplicate emails across people"
    for email in shared:
        ids = {by_external[w[0]]["id"] for w in workers if w[4] == email and w[0] in by_external}
        assert len(ids) > 1

    writes = env.scim_stats()["writes"]
    again = provision(env)
    assert again["pushed"] == 0 and env.scim_stats()["writes"] == writes, "rerun must make no SCIM writes"


def test_bad_batches_are_blocked_and_core_is_unchanged(people_env) -> None:
    env = people_env
    export_once(env)
    baseline = table_hash(env, "core.workers")
    with connect(env.warehouse_url) as conn:
        watermark = conn.execute("SELECT watermark FROM audit.sync_state").fetchone()[0]
        sample = conn.execute("SELECT employee_id FROM core.workers ORDER BY 1 LIMIT 2").fetchall()

    def crafted(_since):
        class Export:
            as_of = "2099-01-01T00:00:00Z"

            def __iter__(self):
                base = {"source_system": "hris_main", "name": {"given": "X", "family": "Y"},
                        "employment": {"status": "active", "type": "employee"},
                        "updated_at": "2030-01-01T00:00:00Z"}
                yield {**base, "employee_id": sample[0][0], "emails": {"work": "w@acme.example"}}
                yield {**base, "employee_id": sample[0][0], "emails": {"work": "x@acme.example"}}
                yield {**base, "employee_id": sample[1][0], "emails": {"work": "y@acme.example"}}
        return Export()

    with pytest.raises(BatchRejected) as err:
        export_once(env, open_export=crafted)
    # The mapping quarantines a malformed email itself now; the gate names the duplicated key.
    assert f"unique_employee_id(employee_id): 2 offending records, e.g. {sample[0][0]}" in str(err.value)
    # The link is the validation's page in the object store (file:// in tests), and the page is there.
    docs_url = str(err.value).split("Data Docs: ", 1)[1].split()[0].rstrip(";")
    assert docs_url.startswith("file://") and f"/{env.tenant}/validations/hris_workers/" in docs_url
    assert Path(unquote(urlparse(docs_url).path)).is_file()

    active = [w["employee_id"] for w in HrisHook(f"hris_{env.tenant}", env.tenant).export(None)
              if w["employment"]["status"] == "active"]
    # More than the gate's 50% of the current workforce (active + on leave): a broken feed.
    for employee_id in active[: int(len(active) * 0.8)]:
        env.hris_admin("POST", f"workers/{employee_id}/terminate", json={"webhook": False})
    with pytest.raises(BatchRejected, match="mass_termination"):
        export_once(env)

    assert table_hash(env, "core.workers") == baseline
    with connect(env.warehouse_url) as conn:
        assert conn.execute("SELECT watermark FROM audit.sync_state").fetchone()[0] == watermark
        rejected = conn.execute(
            "SELECT validation IS NOT NULL, data_docs_url, attempts FROM audit.batches WHERE status = 'rejected'"
        ).fetchall()
    # Both exports cover the same window (the watermark did not move): one batch, attempted twice.
    assert rejected == [(True, rejected[0][1], 2)] and rejected[0][1]


def test_provisioning_killed_halfway_then_rerun_creates_no_duplicates(people_env) -> None:
    env = people_env
    export_once(env)
    partial = provision(env, max_writes=7)
    assert partial["pushed"] == 7
    requests.put(f"{env.scim_url}/admin/faults", json={"reset_rate": 0.3, "error_rate": 0.1, "seed": 3},
                 timeout=10).raise_for_status()
    with contextlib.suppress(Exception):  # a faulted run may die anywhere: that's the point
        provision(env)
    requests.delete(f"{env.scim_url}/admin/faults", timeout=10).raise_for_status()
    final = provision(env)

    assert final["failed"] == 0
    users = lms_users(env)
    external_ids = [u["externalId"] for u in users]
    assert len(external_ids) == len(set(external_ids)), "a retried create duplicated an LMS user"
    expected = count(env, "SELECT count(*) FROM core.workers WHERE employment_status = 'active'")
    assert sum(1 for u in users if u["active"]) == expected
    assert count(env, "SELECT count(*) FROM core.learners") == len(users)
