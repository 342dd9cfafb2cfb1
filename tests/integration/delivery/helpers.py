"""Seeding workers and credentials straight into the warehouse for delivery tests."""

from __future__ import annotations

from typing import Any

import psycopg
import requests

SEED_SQL = """
INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,
    email_normalized, employment_status, employment_type, manager_id, source_updated_at, mapping_version,
    last_batch_id)
SELECT %(tenant)s, 'E' || lpad(n::text, 6, '0'), 'hris_main', 'Given' || n, 'Family' || n,
       'w' || n || '@example.com', 'w' || n || '@example.com', 'active', 'employee', 'M1', now(),
       'hris_worker_v1', gen_random_uuid()
FROM generate_series(%(start)s::int, %(stop)s::int) AS n
ON CONFLICT DO NOTHING;
INSERT INTO core.credentials (credential_id, tenant_id, employee_id, credential_type, issuer, rule_version,
    issue_date, expiry_date, status, evidence, pay_impact, version)
SELECT gen_random_uuid(), %(tenant)s, 'E' || lpad(n::text, 6, '0'), %(ctype)s, 'credsync-training', '1',
       %(issued)s::date, %(expires)s::date, 'active', '{}'::jsonb, %(pay_impact)s, 1
FROM generate_series(%(start)s::int, %(stop)s::int) AS n;
"""


def seed_credentials(conn: psycopg.Connection, tenant: str, count: int, *, start: int = 1,
                     ctype: str = "cpr_aed", issued: str = "2026-01-10", expires: str | None = "2028-01-10",
                     pay_impact: bool = False) -> None:
    """``count`` workers E000001.. with one active credential each."""
    params = {"tenant": tenant, "start": start, "stop": start + count - 1, "ctype": ctype,
              "issued": issued, "expires": expires, "pay_impact": pay_impact}
    for statement in filter(str.strip, SEED_SQL.split(";")):
        conn.execute(statement, params)
    conn.commit()


def admin(base_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call a sandbox admin endpoint (no auth, loopback)."""
    response = requests.request(method, base_url + path, json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def hris_worker(employee_id: str) -> dict[str, Any]:
    """A worker in the HRIS contract shape, matching seed_credentials' names."""
    n = int(employee_id[1:])
    return {
        "employee_id": employee_id, "source_system": "hris_main",
        "name": {"given": f"Given{n}", "family": f"Family{n}"},
        "emails": {"work": f"w{n}@example.com", "personal": f"p{n}@home.example"},
        "employment": {"status": "active", "type": "employee", "hire_date": "2020-01-01", "manager_id": "M1"},
        "compensation": {"salary_band": "B3"},
    }


def put_hris_workers(hris_url: str, tenant: str, employee_ids: list[str]) -> None:
    for employee_id in employee_ids:
        admin(hris_url, "PUT", f"/admin/tenants/{tenant}/workers/{employee_id}", hris_worker(employee_id))
