"""Granted career-path eligibility to the marketplace (credsync.marketplace.eligibility).

Real Postgres and the marketplace sandbox over loopback HTTP (the sync tests' fixtures): a grant is
sent once, a rerun sends nothing, a lost answer or 5xx ends applied once, an unknown member is
dead-lettered with its reason.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from credsync.marketplace.eligibility import EligibilityIncomplete, push_eligibility
from credsync.marketplace.profile import profile_of
from credsync.warehouse import connect
from sandbox.launcher import SandboxSet
from tests.integration.marketplace import test_marketplace_sync as sync
from tests.integration.marketplace.test_marketplace_sync import HTTP, KEY, client, events, seed, state, sync_all

# The sync tests' fixtures: one marketplace sandbox per module, reset per test, a migrated database per test.
marketplace, market, warehouse = sync.marketplace, sync.market, sync.warehouse


def grant(url: str, employee: str, eligible_for: str = "senior_technician", tenant: str = "acme") -> str:
    """An approved case and its granted eligibility, as credsync.careers writes them."""
    case_id, rule_id = str(uuid.uuid4()), eligible_for.replace("_", "-")
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO core.career_eligibility_cases (tenant_id, case_id, employee_id, rule_id, rule_version,"
            " eligible_for, approver_kind, approver, credential_ids, state, approval_run_id, decided_by, decided_at)"
            " VALUES (%s, %s, %s, %s, 1, %s, 'manager', 'M001', '{}', 'approved', %s, 'M001', now())",
            (tenant, case_id, employee, rule_id, eligible_for, f"approve-{case_id}"))
        conn.execute(
            "INSERT INTO core.career_eligibility (tenant_id, case_id, employee_id, eligible_for, rule_id, rule_version,"
            " granted_by, granted_at, hris_written_at) VALUES (%s, %s, %s, %s, %s, 1, 'M001', '2026-03-05T09:30:00Z',"
            " now())", (tenant, case_id, employee, eligible_for, rule_id))
        conn.commit()
    return case_id


def push(url: str, running: SandboxSet) -> Any:
    return push_eligibility(url, "acme", profile_of("acme"), client(running, "members"), pseudonym_key=KEY)


def stored(running: SandboxSet) -> list[dict[str, Any]]:
    return [e for e in state(running)["eligibility"] if e["tenant"] == "acme"]


def ledger(url: str, case_id: str) -> tuple:
    with connect(url) as conn:
        return conn.execute("SELECT state, outcome, attempts, member_id FROM core.marketplace_eligibility"
                            " WHERE case_id = %s", (case_id,)).fetchone()


def test_a_grant_is_sent_once_to_the_member_sync_s_member_id_and_a_rerun_sends_nothing(
        warehouse: str, market: SandboxSet, tmp_path: Path) -> None:
    seed(warehouse, workers=2)  # E000 an employee, E001 a contractor: pseudonymised for the marketplace
    assert push(warehouse, market).status == "no_initial_sync"
    sync_all(warehouse, market, tmp_path)
    employee_case, contractor_case = grant(warehouse, "E000"), grant(warehouse, "E001")

    first = push(warehouse, market)
    assert (first.recorded, first.sent, first.acknowledged, first.dead, first.remaining) == (2, 2, 2, 0, 0)
    with connect(warehouse) as conn:
        pseudonym = conn.execute("SELECT member_id FROM core.marketplace_members WHERE tenant_id = 'acme'"
                                 " AND employee_id = 'E001'").fetchone()[0]
    assert pseudonym != "E001"
    assert sorted(e["member_id"] for e in stored(market)) == sorted(["E000", pseudonym])
    sent = {e["member_id"]: e for e in stored(market)}["E000"]
    assert {k: sent[k] for k in ("eligible_for", "rule_id", "rule_version", "granted_at", "review_state")} == {
        "eligible_for": "senior_technician", "rule_id": "senior-technician", "rule_version": 1,
        "granted_at": "2026-03-05T09:30:00.000000Z", "review_state": None}
    assert ledger(warehouse, contractor_case)[3] == pseudonym and ledger(warehouse, employee_case)[:2] == (
        "acknowledged", "created")

    again = push(warehouse, market)
    assert (again.recorded, again.sent) == (0, 0)
    with connect(warehouse) as conn:  # a later write that changes nothing the marketplace holds
        conn.execute("UPDATE core.career_eligibility SET hris_written_at = now(), updated_at = now()"
                     " WHERE case_id = %s", (employee_case,))
        conn.commit()
    assert push(warehouse, market).sent == 0
    with connect(warehouse) as conn:
        conn.execute("UPDATE core.career_eligibility SET review_state = 'prerequisite_lapsed', updated_at = now()"
                     " WHERE case_id = %s", (employee_case,))
        conn.commit()
    changed = push(warehouse, market)
    assert (changed.changed, changed.sent, changed.acknowledged) == (1, 1, 1)
    assert ledger(warehouse, employee_case)[:2] == ("acknowledged", "replaced")
    assert [e["review_state"] for e in stored(market) if e["member_id"] == "E000"] == ["prerequisite_lapsed"]
    assert push(warehouse, market).sent == 0


def test_a_lost_answer_is_resent_by_the_next_run_and_applied_once(warehouse: str, market: SandboxSet,
                                                                 tmp_path: Path) -> None:
    seed(warehouse, workers=1)
    sync_all(warehouse, market, tmp_path)
    case_id = grant(warehouse, "E000")
    admin = market.admin("marketplace")
    assert HTTP.post(f"{admin}/faults", json={"lost_response_rate": 1, "methods": ["PUT"],
                                               "paths": ["/v1/members/"]}).status_code == 200
    with pytest.raises(EligibilityIncomplete):
        push(warehouse, market)
    HTTP.delete(f"{admin}/faults")
    assert ledger(warehouse, case_id)[0] == "sent", "not acknowledged: the next run resends it"
    assert len(stored(market)) == 1, "the lost answer's request was applied"

    resent = push(warehouse, market)
    assert (resent.sent, resent.acknowledged, resent.replayed) == (1, 1, 1), "replayed under the same key"
    assert len(stored(market)) == 1 and ledger(warehouse, case_id)[:3] == ("acknowledged", "created", 2)
    assert push(warehouse, market).sent == 0


def test_under_5xx_and_lost_answers_every_grant_lands_once(warehouse: str, market: SandboxSet,
                                                           tmp_path: Path) -> None:
    seed(warehouse, workers=3)
    sync_all(warehouse, market, tmp_path)
    cases = [grant(warehouse, f"E{n % 3:03d}", f"path_{n:02d}") for n in range(12)]
    admin = market.admin("marketplace")
    assert HTTP.post(f"{admin}/faults", json={"error_rate": 0.3, "lost_response_rate": 0.3, "methods": ["PUT"],
                                               "paths": ["/v1/members/"], "seed": 5}).status_code == 200
    replayed = 0
    for _ in range(20):
        try:
            result = push(warehouse, market)
        except EligibilityIncomplete:
            continue
        replayed += result.replayed
        if result.remaining == 0:
            break
    HTTP.delete(f"{admin}/faults")
    with connect(warehouse) as conn:
        states = Counter(r[0] for r in conn.execute("SELECT state FROM core.marketplace_eligibility"
                                                    " WHERE tenant_id = 'acme'"))
    assert states == {"acknowledged": len(cases)}
    applied = Counter((e["member_id"], e["eligible_for"]) for e in stored(market))
    assert len(applied) == len(cases) and set(applied.values()) == {1}
    keys = [k for k in state(market)["idempotency_keys"] if k["idempotency_key"].startswith("eligibility-")]
    assert len(keys) == len(cases), "each grant was applied under one key, however often it was sent"
    assert replayed > 0, "no lost answer was resent: the test proves nothing"


def test_an_unknown_member_is_dead_lettered_with_the_marketplace_s_reason(warehouse: str, market: SandboxSet,
                                                                         tmp_path: Path) -> None:
    seed(warehouse, workers=1)
    sync_all(warehouse, market, tmp_path)
    with connect(warehouse) as conn:  # a worker hired after the initial sync, not yet PUT to the marketplace
        conn.execute("INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name,"
                     " work_email, email_normalized, employment_status, employment_type, source_updated_at,"
                     " mapping_version, last_batch_id) VALUES ('acme', 'E100', 'hris_main', 'Bo', 'Ng',"
                     " 'bo.ng@acme.example', 'bo.ng@acme.example', 'active', 'employee', now(), 'hris_worker_v1',"
                     " %s)", (uuid.uuid4(),))
        conn.commit()
    case_id, fine = grant(warehouse, "E100"), grant(warehouse, "E000")

    result = push(warehouse, market)
    assert (result.sent, result.acknowledged, result.dead, result.remaining) == (2, 1, 1, 0)
    assert ledger(warehouse, case_id)[:2] == ("dead", "not_found") and ledger(warehouse, fine)[0] == "acknowledged"
    with connect(warehouse) as conn:
        letters = conn.execute("SELECT source, reason, status, payload FROM audit.dead_letters WHERE tenant_id = 'acme'"
                               " AND entity_key = %s", (f"eligibility:{case_id}",)).fetchall()
    assert [(s, r, st) for s, r, st, _ in letters] == [("marketplace", "marketplace_not_found", "open")]
    assert letters[0][3]["member_id"] == "E100"
    assert push(warehouse, market).sent == 0, "dead is final for this content: not resent every run"

    # On call: the member reaches the marketplace (the events task PUTs new workers), then dlq_replay
    # puts the grant back in the queue and the next eligibility task delivers it, once.
    from credsync.delivery.marketplace_replay import replay_marketplace_letters

    events(warehouse, market)
    replayed = replay_marketplace_letters(warehouse, "acme", profile_of("acme"), client(market, "events"),
                                          client(market, "members"), dry_run=False, pseudonym_key=KEY)
    assert (replayed.selected, replayed.replayed, replayed.still_failing) == (1, 1, 0)
    assert ledger(warehouse, case_id)[0] == "pending"
    again = push(warehouse, market)
    assert (again.sent, again.acknowledged, again.dead) == (1, 1, 0)
    assert ledger(warehouse, case_id)[0] == "acknowledged"
    assert Counter(e["member_id"] for e in stored(market))["E100"] == 1


def test_a_member_the_marketplace_deleted_gets_no_grant(warehouse: str, market: SandboxSet, tmp_path: Path) -> None:
    seed(warehouse, workers=1)
    sync_all(warehouse, market, tmp_path)
    with connect(warehouse) as conn:  # as the member.deleted webhook records it
        conn.execute("INSERT INTO core.marketplace_deleted_members (tenant_id, member_id, event_id, deleted_at)"
                     " VALUES ('acme', 'E000', 'evt-del-1', now())")
        conn.commit()
    case_id = grant(warehouse, "E000")
    result = push(warehouse, market)
    assert (result.sent, result.dead, result.remaining) == (0, 1, 0) and stored(market) == []
    assert ledger(warehouse, case_id)[:2] == ("dead", "member_deleted")
    with connect(warehouse) as conn:
        reason = conn.execute("SELECT reason FROM audit.dead_letters WHERE entity_key = %s",
                              (f"eligibility:{case_id}",)).fetchone()[0]
    assert reason == "marketplace_member_deleted"
