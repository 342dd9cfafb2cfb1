"""Two tenants' workers, credentials and completions in a migrated Postgres, and the pull clients."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import date

import pytest

from credsync.registry_pull.clients import parse_settings, secret_sha256
from credsync.warehouse import connect
from tests.conftest import migrated_database

SECRET = secrets.token_urlsafe(32)
OTHER_SECRET = secrets.token_urlsafe(32)
SIGNING_KEY = secrets.token_urlsafe(48)
LEARNERS = 7  # acme learners with credentials: more than one page of 3


def settings(budget: int = 1000):
    return parse_settings(SIGNING_KEY, {"clients": {
        "national-registry": {"secret_sha256": secret_sha256(SECRET), "tenants": ["acme"],
                              "requests_per_minute": budget},
        "globex-registry": {"secret_sha256": secret_sha256(OTHER_SECRET), "tenants": ["globex"]},
    }})


@pytest.fixture(scope="module")
def warehouse(postgres_server) -> Iterator[str]:
    with migrated_database(postgres_server) as url:
        with connect(url) as conn:
            for tenant, count in (("acme", LEARNERS), ("globex", 2)):
                for n in range(count):
                    seed_learner(conn, tenant, f"E{n:03d}", revoked=(n == 1))
            # A worker with a completion and no credential: not the registry's business.
            seed_worker(conn, "acme", "E900")
            seed_completion(conn, "acme", "E900", "FORK-100")
            conn.commit()
        yield url


def seed_worker(conn, tenant: str, employee_id: str) -> None:
    n = int(employee_id[1:])
    conn.execute("INSERT INTO core.tenants (tenant_id, display_name, region) VALUES (%s, %s, 'eu')"
                 " ON CONFLICT DO NOTHING", (tenant, tenant))
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
        " employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
        " VALUES (%s, %s, 'hris', %s, %s, %s, 'active', 'employee', now(), 'hris_worker_v1', %s)",
        (tenant, employee_id, f"Given{n}", f"Family{n}", f"{employee_id.lower()}@{tenant}.example", uuid.uuid4()))


def seed_completion(conn, tenant: str, employee_id: str, course: str) -> str:
    source_id = f"statement-{uuid.uuid4()}"
    conn.execute(
        "INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb, success,"
        " score, completed_at, batch_id, mapping_version) VALUES (%s, 'xapi', %s, %s, %s, 'passed', true, 91.5,"
        " '2026-01-04T10:00:00Z', %s, 'xapi_statement_v1')",
        (tenant, source_id, employee_id, course, uuid.uuid4()))
    return source_id


def seed_learner(conn, tenant: str, employee_id: str, *, revoked: bool) -> None:
    seed_worker(conn, tenant, employee_id)
    statement = seed_completion(conn, tenant, employee_id, "FORK-100")
    conn.execute(
        "INSERT INTO core.credentials (credential_id, tenant_id, employee_id, credential_type, issuer, rule_version,"
        " issue_date, expiry_date, status, evidence, vc_jwt, evidence_key) VALUES (%s, %s, %s, 'forklift_operator',"
        " %s, 'v1', %s, %s, %s, %s, %s, %s)",
        (uuid.uuid4(), tenant, employee_id, f"did:web:issuers.example:{tenant}", date(2026, 1, 5),
         date(2027, 1, 5), "revoked" if revoked else "active", json.dumps({"statements": [statement]}),
         f"eyJ.test.{employee_id}", statement))
