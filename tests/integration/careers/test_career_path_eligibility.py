"""Career-path eligibility on real Postgres and the real HRIS sandbox over HTTP.

The HITL answer is what Airflow's operator hands ``decide`` (its XCom: chosen option, responder,
params); the DAG-level run with Required Actions answered is tests/dags/test_career_path_dags.py.
"""

from __future__ import annotations

from datetime import date

import pytest

from credsync.careers.decide import decide
from credsync.careers.evaluate import evaluate_tenant
from credsync.careers.rules import load_career_path_rules
from tests.integration.careers.helpers import (
    add_credential,
    add_worker,
    cases,
    hitl,
    hris_eligibility,
    put_hris_worker,
    rows,
    set_credential,
)

TODAY = date(2026, 12, 3)


@pytest.fixture
def rules():
    return load_career_path_rules()


def evaluate(url, rules, as_of=TODAY, run_id="eval"):
    return evaluate_tenant(url, "acme", rules, as_of=as_of, run_id=run_id)


def answer(url, hris, ask: dict, result: dict | None) -> dict:
    return decide(url, hris.client, tenant_id="acme", case_id=ask["case_id"], ask=ask["ask"], hitl_result=result,
                  run_id=ask["trigger_run_id"])


@pytest.fixture
def forklift_worker(fresh_warehouse_url, hris):
    """E1: a forklift operator (hired 2020, manager M1) who lacks first_responder: meets no rule yet."""
    url = fresh_warehouse_url
    add_worker(url, "E1")
    put_hris_worker(hris.url, "E1")
    add_credential(url, "E1", "forklift_operator")
    return url


def test_a_rule_met_by_a_new_credential_creates_one_approval_approve_writes_once_rerun_nothing_new(
        forklift_worker, hris, rules):
    url = forklift_worker
    assert evaluate(url, rules).asks == [] and cases(url) == []

    add_credential(url, "E1", "first_responder")  # the new credential completes senior-technician
    first = evaluate(url, rules)
    assert first.opened == 1 and len(first.asks) == 1
    ask = first.asks[0]
    assert ask["trigger_run_id"] == f"career__acme__{ask['case_id']}__1" and ask["ask"] == 1
    assert cases(url) == [("E1", "senior-technician", 1, "pending", 1, "manager", "M1", None)]

    again = evaluate(url, rules, run_id="eval-2")  # a rerun: the same one case, the same run id
    assert again.opened == 0 and again.asks == first.asks

    result = answer(url, hris, ask, hitl("Approve", user="manager.m1"))
    assert result["state"] == "approved" and result["hris_written"] == 1
    listing, puts = hris_eligibility(hris.url, hris.client)
    assert [(e["employee_id"], e["eligible_for"], e["status"], e["approved_by"], e["rule_version"])
            for e in listing] == [("E1", "senior_technician", "eligible", "manager.m1", 1)]
    assert puts == {("E1", "senior_technician"): 1}
    assert rows(url, "SELECT employee_id, eligible_for, granted_by, hris_written_at IS NOT NULL, review_state"
                     " FROM core.career_eligibility") == [("E1", "senior_technician", "manager.m1", True, None)]
    assert rows(url, "SELECT decided_by, decided_at IS NOT NULL FROM core.career_eligibility_cases") == [
        ("manager.m1", True)]

    # Rerun everything: the decision again (a cleared task), the evaluation: nothing new anywhere.
    assert answer(url, hris, ask, hitl("Approve"))["already_decided"] is True
    rerun = evaluate(url, rules, run_id="eval-3")
    assert rerun.opened == 0 and rerun.asks == []
    assert hris_eligibility(hris.url, hris.client)[1] == {("E1", "senior_technician"): 1}
    assert rows(url, "SELECT count(*) FROM core.career_eligibility_cases") == [(1,)]
    assert [e for (e,) in rows(url, "SELECT event FROM core.career_eligibility_events ORDER BY event_id")] == [
        "opened", "approved", "hris_written"]
    assert rows(url, "SELECT count(*) FROM audit.events WHERE event_type = 'career_eligibility_approved'") == [(1,)]


def test_reject_is_recorded_with_its_reason_and_not_asked_again_for_the_rule_version(forklift_worker, hris, rules):
    url = forklift_worker
    add_credential(url, "E1", "first_responder")
    ask = evaluate(url, rules).asks[0]
    result = answer(url, hris, ask, hitl("Reject", "needs a night-shift assessment first", "hrbp.bob"))
    assert result["state"] == "rejected"
    assert rows(url, "SELECT state, decided_by, state_reason FROM core.career_eligibility_cases") == [
        ("rejected", "hrbp.bob", "needs a night-shift assessment first")]
    assert evaluate(url, rules, run_id="later").asks == []
    assert hris_eligibility(hris.url, hris.client) == ([], {}), "a rejection reached the HRIS"
    assert rows(url, "SELECT count(*) FROM core.career_eligibility") == [(0,)]


def test_no_answer_in_time_expires_the_case_and_the_next_run_asks_again(forklift_worker, hris, rules):
    url = forklift_worker
    add_credential(url, "E1", "first_responder")
    ask = evaluate(url, rules).asks[0]
    assert answer(url, hris, ask, None)["state"] == "expired"
    assert cases(url)[0][3:5] == ("expired", 1) and "no decision within 72 h" in cases(url)[0][7]
    second = evaluate(url, rules, run_id="next-day").asks
    assert [(a["case_id"], a["ask"], a["trigger_run_id"]) for a in second] == [
        (ask["case_id"], 2, f"career__acme__{ask['case_id']}__2")]
    # A late answer to the first ask changes nothing; the second ask is the one that counts.
    assert answer(url, hris, ask, hitl("Approve"))["already_decided"] is True
    assert answer(url, hris, second[0], hitl("Approve"))["state"] == "approved"
    assert rows(url, "SELECT count(*) FROM core.career_eligibility_cases") == [(1,)]


def test_an_expired_or_revoked_prerequisite_withdraws_a_pending_case_and_reviews_a_granted_one(
        fresh_warehouse_url, hris, rules):
    url = fresh_warehouse_url
    for worker in ("E1", "E2", "E3"):
        add_worker(url, worker)
        put_hris_worker(hris.url, worker)
        add_credential(url, worker, "forklift_operator")
    first_aid = {w: add_credential(url, w, "first_responder", expires="2027-02-01") for w in ("E1", "E2", "E3")}
    asks = {a["case_id"]: a for a in evaluate(url, rules).asks}
    assert len(asks) == 3
    by_worker = {e: c for c, e in rows(url, "SELECT case_id::text, employee_id FROM core.career_eligibility_cases")}
    answer(url, hris, asks[by_worker["E3"]], hitl("Approve"))

    set_credential(url, first_aid["E1"], "expired")              # recertification marked it
    set_credential(url, first_aid["E3"], "revoked", "issued in error")
    result = evaluate(url, rules, run_id="after-lapse")
    assert result.withdrawn == 1 and result.reviews_opened == 1
    states = {e: (s, r) for e, _, _, s, _, _, _, r in cases(url)}
    assert states["E1"] == ("withdrawn", "prerequisite lapsed: first_responder expired on 2027-02-01")
    assert states["E2"] == ("pending", None)
    assert states["E3"][0] == "approved", "a granted eligibility was demoted"
    assert rows(url, "SELECT employee_id, reason, resolved_at IS NULL FROM core.career_eligibility_reviews") == [
        ("E3", "prerequisite lapsed: first_responder revoked (issued in error)", True)]
    assert rows(url, "SELECT review_state FROM core.career_eligibility") == [("prerequisite_lapsed",)]
    assert [e["employee_id"] for e in hris_eligibility(hris.url, hris.client)[0]] == ["E3"], "HRIS eligibility removed"
    # The withdrawn case's approval run, answered late, changes nothing.
    assert answer(url, hris, asks[by_worker["E1"]], hitl("Approve"))["already_decided"] is True

    # The expiry date passing withdraws too, before any status change; a rerun reviews nothing twice.
    later = evaluate(url, rules, as_of=date(2027, 2, 1), run_id="on-expiry-day")
    assert later.withdrawn == 1 and later.reviews_opened == 0
    assert {e: s for e, _, _, s, *_ in cases(url)} == {"E1": "withdrawn", "E2": "withdrawn", "E3": "approved"}

    # E1 renews: the withdrawn case reopens (ask 2), one row still; E3 renews: the review is resolved.
    add_credential(url, "E1", "first_responder", issued="2026-12-01", expires="2028-12-01")
    add_credential(url, "E3", "first_responder", issued="2026-12-01", expires="2028-12-01")
    renewed = evaluate(url, rules, as_of=date(2027, 2, 1), run_id="renewed")
    assert [a["ask"] for a in renewed.asks] == [2] and renewed.reviews_resolved == 1
    assert rows(url, "SELECT count(*) FROM core.career_eligibility_cases WHERE employee_id = 'E1'") == [(1,)]
    assert rows(url, "SELECT resolved_at IS NOT NULL FROM core.career_eligibility_reviews") == [(True,)]


def test_tenure_job_family_manager_and_employment_status_prerequisites(fresh_warehouse_url, hris, rules):
    url = fresh_warehouse_url
    add_worker(url, "NEW", hire_date="2026-06-01")                    # under a year: no senior-technician
    add_worker(url, "NOMGR", manager_id=None)                         # no manager: the rule's HRBP group decides
    add_worker(url, "LEFT", status="terminated")
    add_worker(url, "HZ1", department="Logistics")
    add_worker(url, "HZ2", department="Finance")                      # not the job family
    for worker in ("NEW", "NOMGR", "LEFT"):
        add_credential(url, worker, "forklift_operator")
        add_credential(url, worker, "first_responder")
    for worker in ("HZ1", "HZ2"):
        add_credential(url, worker, "hazmat_handling")
        add_credential(url, worker, "workplace_safety", expires=None)
    add_credential(url, "HZ1", "first_aid")                           # irrelevant to every rule
    evaluate(url, rules)
    assert [(e, r, k, a) for e, r, _, _, _, k, a, _ in cases(url)] == [
        ("HZ1", "hazmat-lead", "hrbp", "hrbp-ehs"),
        ("NOMGR", "senior-technician", "hrbp", "hrbp-operations")]
    assert evaluate(url, rules, as_of=date(2027, 6, 1)).opened == 1   # NEW reaches a year's service
    assert ("NEW", "senior-technician", "manager", "M1") in [(e, r, k, a) for e, r, _, _, _, k, a, _ in cases(url)]


def test_the_hris_refusing_the_write_keeps_the_approval_and_a_later_run_sends_it(fresh_warehouse_url, hris, rules):
    from credsync.careers.decide import EligibilityWriteFailed, write_pending

    url = fresh_warehouse_url
    add_worker(url, "GHOST")                   # in core, not (yet) in the HRIS: the PUT gets 404
    add_credential(url, "GHOST", "forklift_operator")
    add_credential(url, "GHOST", "first_responder")
    ask = evaluate(url, rules).asks[0]
    with pytest.raises(EligibilityWriteFailed, match="HTTP 404"):
        answer(url, hris, ask, hitl("Approve"))
    assert rows(url, "SELECT state, hris_written_at FROM core.career_eligibility_cases") == [("approved", None)]
    assert rows(url, "SELECT source, reason, status, detail->>'employee_id' FROM audit.dead_letters") == [
        ("career_eligibility", "hris_404", "open", "GHOST")]
    put_hris_worker(hris.url, "GHOST")
    assert write_pending(url, hris.client, "acme") == 1
    assert write_pending(url, hris.client, "acme") == 0
    assert hris_eligibility(hris.url, hris.client)[1] == {("GHOST", "senior_technician"): 2}  # one 404, one write
    assert rows(url, "SELECT hris_written_at IS NOT NULL FROM core.career_eligibility") == [(True,)]
    assert rows(url, "SELECT status FROM audit.dead_letters") == [("replayed",)], "the letter stayed open"
