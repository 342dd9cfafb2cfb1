"""Seeding workers and credentials for the career-path tests, and reading what happened."""

from __future__ import annotations

import uuid
from typing import Any

from credsync.warehouse import connect
from tests.integration.delivery.helpers import admin, hris_worker


def add_worker(url: str, employee_id: str, *, tenant: str = "acme", manager_id: str | None = "M1",
               hire_date: str | None = "2020-01-01", department: str | None = "Warehouse",
               status: str = "active") -> None:
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
            " email_normalized, employment_status, employment_type, hire_date, department, job_title, manager_id,"
            " source_updated_at, mapping_version, last_batch_id) VALUES (%s, %s, 'hris_main', 'Given', 'Family',"
            " %s, %s, %s, 'employee', %s, %s, 'Forklift operator', %s, now(), 'hris_worker_v1', %s)"
            " ON CONFLICT (tenant_id, employee_id) DO UPDATE SET employment_status = excluded.employment_status,"
            " hire_date = excluded.hire_date, department = excluded.department, manager_id = excluded.manager_id",
            (tenant, employee_id, f"{employee_id}@example.com", f"{employee_id.lower()}@example.com", status,
             hire_date, department, manager_id, uuid.uuid4()))
        conn.commit()


def add_credential(url: str, employee_id: str, credential_type: str, *, tenant: str = "acme",
                   issued: str = "2026-01-10", expires: str | None = "2028-01-10", status: str = "active") -> str:
    credential_id = str(uuid.uuid4())
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO core.credentials (credential_id, tenant_id, employee_id, credential_type, issuer,"
            " rule_version, issue_date, expiry_date, status, evidence, pay_impact, version) VALUES (%s, %s, %s, %s,"
            " 'credsync-training', '1', %s, %s, %s, '{}'::jsonb, false, 1)",
            (credential_id, tenant, employee_id, credential_type, issued, expires, status))
        conn.commit()
    return credential_id


def set_credential(url: str, credential_id: str, status: str, reason: str | None = None) -> None:
    with connect(url) as conn:
        conn.execute("UPDATE core.credentials SET status = %s, status_reason = %s, status_changed_at = now()"
                     " WHERE credential_id = %s", (status, reason, credential_id))
        conn.commit()


def rows(url: str, sql: str, *params: Any) -> list[tuple]:
    with connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def cases(url: str, tenant: str = "acme") -> list[tuple]:
    return rows(url, "SELECT employee_id, rule_id, rule_version, state, ask, approver_kind, approver, state_reason"
                     " FROM core.career_eligibility_cases WHERE tenant_id = %s ORDER BY employee_id, rule_id", tenant)


def hitl(option: str, reason: str = "", user: str = "alice") -> dict:
    """What Airflow's HITL operator returns (its XCom) when someone answers in Required Actions."""
    return {"chosen_options": [option], "params_input": {"reason": reason}, "responded_by_user": {"id": user,
                                                                                                  "name": user}}


def hris_eligibility(hris_url: str, client: Any, tenant: str = "acme") -> tuple[list[dict], dict[tuple, int]]:
    """What the HRIS holds (its listing, over the tenant's API) and how many PUTs each eligibility took."""
    listing = client.http.request("GET", f"/api/v1/tenants/{tenant}/career-eligibility").json()["data"]
    puts = {(p["employee_id"], p["eligible_for"]): p["puts"]
            for p in admin(hris_url, "GET", f"/admin/tenants/{tenant}/career-eligibility-puts")["data"]}
    return listing, puts


def put_hris_worker(hris_url: str, employee_id: str, tenant: str = "acme") -> None:
    worker = hris_worker("E000001")
    worker["employee_id"] = employee_id
    admin(hris_url, "PUT", f"/admin/tenants/{tenant}/workers/{employee_id}", worker)
