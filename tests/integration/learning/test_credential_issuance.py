"""Credential issuance against a real Postgres: pass, fail, retake, voided, late, expired, renewal."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from joserfc import jws

from credsync.audit import verify_chain
from credsync.credentials.issuance import issue_credentials
from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.credentials.rules import load_rules
from credsync.warehouse import connect

AS_OF = date(2025, 6, 1)
BATCH = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def key():
    return parse_signing_key(generate_signing_key())


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture
def tenant() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def conn(warehouse_url):
    with connect(warehouse_url, autocommit=True) as connection:
        yield connection


def add_worker(conn, tenant: str, employee_id: str, status: str = "active") -> None:
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name,"
        " employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
        " VALUES (%s, %s, 'hris_main', 'Test', 'Worker', %s, 'employee', now(), 'v1', %s)",
        (tenant, employee_id, status, BATCH),
    )
    conn.commit()


def add_completion(conn, tenant: str, employee_id: str, course: str, when: str, *, score: float | None,
                   verb: str = "passed", source_id: str | None = None) -> str:
    source_id = source_id or str(uuid.uuid4())
    conn.execute(
        "INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb, success,"
        " score, completed_at, batch_id, mapping_version) VALUES (%s, 'xapi', %s, %s, %s, %s, %s, %s, %s, %s, 'v1')",
        (tenant, source_id, employee_id, course, verb, verb != "failed", score,
         datetime.fromisoformat(when).replace(tzinfo=UTC), BATCH),
    )
    conn.commit()
    return source_id


def void(conn, tenant: str, source_id: str) -> None:
    conn.execute("UPDATE core.completions SET voided = true, voided_at = now() WHERE tenant_id = %s"
                 " AND source_id = %s", (tenant, source_id))
    conn.commit()


def credentials(conn, tenant: str, employee_id: str) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT credential_id, credential_type, status, status_reason, issue_date, expiry_date, pay_impact,"
        " previous_credential_id, version, evidence, vc_jwt, rule_version FROM core.credentials"
        " WHERE tenant_id = %s AND employee_id = %s ORDER BY version, created_at",
        (tenant, employee_id),
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def decisions(conn, tenant: str, employee_id: str) -> list[str]:
    cur = conn.execute("SELECT decision FROM core.credential_decisions WHERE tenant_id = %s AND employee_id = %s"
                       " ORDER BY decision_id", (tenant, employee_id))
    return [row[0] for row in cur.fetchall()]


def run(conn, tenant, rules, key, as_of: date = AS_OF):
    return issue_credentials(conn, tenant_id=tenant, rules=rules, signing_key=key, as_of=as_of, run_id="test")


def test_pass_issues_signed_active_credential_with_evidence(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    statement = add_completion(conn, tenant, "E1", "FORKLIFT-200", "2025-05-01T10:00:00", score=88)
    result = run(conn, tenant, rules, key)
    [cred] = credentials(conn, tenant, "E1")
    assert result.issued == 1
    assert (cred["credential_type"], cred["status"], cred["pay_impact"]) == ("forklift_operator", "active", True)
    assert (cred["issue_date"], cred["expiry_date"]) == (date(2025, 5, 1), date(2028, 4, 30))
    assert cred["evidence"]["items"][0]["source_id"] == statement
    assert cred["evidence"]["rule_version"] == cred["rule_version"] == "1"
    vc = json.loads(jws.extract_compact(cred["vc_jwt"].encode()).payload)  # verified in tests/integration/credentials
    assert vc["id"] == f"urn:uuid:{cred['credential_id']}"
    assert vc["type"] == ["VerifiableCredential", "AchievementCredential"]
    with conn.transaction():  # verify_chain reads through a server-side cursor
        assert verify_chain(conn, tenant).ok


def test_rerun_over_same_completions_creates_nothing(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "CPR-101", "2025-05-01T10:00:00", score=90)
    add_completion(conn, tenant, "E1", "FIRSTAID-110", "2025-05-02T10:00:00", score=85)
    first = run(conn, tenant, rules, key)
    before = conn.execute("SELECT (SELECT count(*) FROM core.credentials WHERE tenant_id = %s),"
                          " (SELECT count(*) FROM core.credential_decisions WHERE tenant_id = %s),"
                          " (SELECT count(*) FROM audit.events WHERE tenant_id = %s)",
                          (tenant, tenant, tenant)).fetchone()
    second = run(conn, tenant, rules, key)
    after = conn.execute("SELECT (SELECT count(*) FROM core.credentials WHERE tenant_id = %s),"
                         " (SELECT count(*) FROM core.credential_decisions WHERE tenant_id = %s),"
                         " (SELECT count(*) FROM audit.events WHERE tenant_id = %s)",
                         (tenant, tenant, tenant)).fetchone()
    assert first.issued == 3  # cpr_aed, first_aid and the set rule first_responder
    assert (second.issued, second.renewed, second.skipped) == (0, 0, {})
    assert before == after


def test_fail_issues_nothing_and_retake_pass_issues_from_the_pass(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "HAZMAT-300", "2025-04-01T10:00:00", score=60, verb="failed")
    assert run(conn, tenant, rules, key).issued == 0
    assert credentials(conn, tenant, "E1") == []
    retake = add_completion(conn, tenant, "E1", "HAZMAT-300", "2025-04-20T10:00:00", score=91)
    assert run(conn, tenant, rules, key).issued == 1
    [cred] = credentials(conn, tenant, "E1")
    assert [item["source_id"] for item in cred["evidence"]["items"]] == [retake]


def test_pass_below_min_score_issues_nothing(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "HAZMAT-300", "2025-04-01T10:00:00", score=84)  # rule needs 85
    assert run(conn, tenant, rules, key).issued == 0


def test_voided_evidence_revokes_the_credential(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    statement = add_completion(conn, tenant, "E1", "FORKLIFT-200", "2025-05-01T10:00:00", score=88)
    run(conn, tenant, rules, key)
    void(conn, tenant, statement)
    result = run(conn, tenant, rules, key)
    [cred] = credentials(conn, tenant, "E1")
    assert result.revoked_evidence_voided == 1 and result.issued == 0
    assert (cred["status"], cred["status_reason"]) == ("revoked", "evidence_voided")
    assert decisions(conn, tenant, "E1") == ["issued", "revoked_evidence_voided"]


def test_voided_retake_falls_back_to_an_earlier_valid_pass(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    first = add_completion(conn, tenant, "E1", "FORKLIFT-200", "2025-01-10T10:00:00", score=81)
    second = add_completion(conn, tenant, "E1", "FORKLIFT-200", "2025-02-10T10:00:00", score=95)
    run(conn, tenant, rules, key)
    void(conn, tenant, second)
    run(conn, tenant, rules, key)
    revoked, reissued = credentials(conn, tenant, "E1")
    assert revoked["status_reason"] == "evidence_voided"
    assert reissued["status"] == "active"
    assert reissued["previous_credential_id"] == revoked["credential_id"]
    assert [item["source_id"] for item in reissued["evidence"]["items"]] == [first]


def test_late_completion_already_expired_is_recorded_not_issued(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "SAFETY-100", "2024-01-15T10:00:00", score=None, verb="completed")
    result = run(conn, tenant, rules, key)
    assert result.issued == 0 and result.skipped == {"skipped_expired": 1}
    assert credentials(conn, tenant, "E1") == []
    assert decisions(conn, tenant, "E1") == ["skipped_expired"]
    assert run(conn, tenant, rules, key).skipped == {}  # recorded once


def test_late_completion_still_valid_is_issued_from_its_completion_date(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "SAFETY-100", "2024-09-01T23:30:00", score=None, verb="completed")
    run(conn, tenant, rules, key)
    [cred] = credentials(conn, tenant, "E1")
    assert (cred["status"], cred["issue_date"], cred["expiry_date"]) == ("active", date(2024, 9, 1), date(2025, 9, 1))


def test_renewal_within_window_supersedes_and_extends_from_old_expiry(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "CPR-101", "2023-06-10T10:00:00", score=90)
    run(conn, tenant, rules, key, as_of=date(2023, 7, 1))
    add_completion(conn, tenant, "E1", "CPR-101", "2025-05-01T10:00:00", score=92)
    result = run(conn, tenant, rules, key)
    old, new = [c for c in credentials(conn, tenant, "E1") if c["credential_type"] == "cpr_aed"]
    assert result.renewed == 1
    assert (old["status"], old["status_reason"]) == ("revoked", "superseded")
    assert (new["status"], new["previous_credential_id"], new["version"]) == ("active", old["credential_id"], 2)
    assert new["expiry_date"] == date(2027, 6, 9)  # old expiry 2025-06-09 + 730 days


def test_retake_long_before_expiry_does_not_reissue(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "CPR-101", "2025-01-10T10:00:00", score=82)
    run(conn, tenant, rules, key)
    add_completion(conn, tenant, "E1", "CPR-101", "2025-05-10T10:00:00", score=99)
    result = run(conn, tenant, rules, key)
    assert (result.issued, result.renewed) == (0, 0)
    assert [c["status"] for c in credentials(conn, tenant, "E1") if c["credential_type"] == "cpr_aed"] == ["active"]


def test_terminated_worker_gets_no_credential(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1", status="terminated")
    add_completion(conn, tenant, "E1", "FORKLIFT-200", "2025-05-01T10:00:00", score=88)
    result = run(conn, tenant, rules, key)
    assert credentials(conn, tenant, "E1") == []
    assert result.skipped == {"skipped_terminated": 1}


def test_recertification_needs_an_earlier_forklift_credential(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "FORKLIFT-210", "2025-05-01T10:00:00", score=90)
    assert run(conn, tenant, rules, key).skipped == {"skipped_requires_credential": 1}
    assert credentials(conn, tenant, "E1") == []


def test_recertification_after_expiry_issues_a_linked_credential(conn, tenant, rules, key) -> None:
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "FORKLIFT-200", "2021-03-01T10:00:00", score=90)
    run(conn, tenant, rules, key, as_of=date(2021, 4, 1))
    # The recertification DAG (not this one) expires credentials over time.
    conn.execute("UPDATE core.credentials SET status = 'expired', status_reason = 'expired'"
                 " WHERE tenant_id = %s", (tenant,))
    conn.commit()
    add_completion(conn, tenant, "E1", "FORKLIFT-210", "2025-05-01T10:00:00", score=90)
    run(conn, tenant, rules, key)
    expired, recertified = credentials(conn, tenant, "E1")
    assert expired["status"] == "expired"
    assert (recertified["status"], recertified["previous_credential_id"]) == ("active", expired["credential_id"])
    assert recertified["expiry_date"] == date(2028, 4, 30)
