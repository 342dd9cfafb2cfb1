"""The marketplace member mapping, row by row of seed 001's table, and what it refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credsync.governance.pseudonymise import is_pseudonym, pseudonym
from credsync.mapping import load_mapping
from credsync.marketplace.mapping import build_members, sections, to_json
from credsync.marketplace.profile import MarketplaceProfile, parse_profile
from credsync.tenants import TenantConfigError

KEY = b"k" * 32
PROFILE = MarketplaceProfile("acme", "marketplace_acme", "https://credentials.acme.example/credentials/{award_id}")
T = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def psn(kind: str, value: str) -> str:
    return pseudonym("acme", value, kind=kind, key=KEY)


def worker(employee_id="E001", email="Ann.Lee+lms@Acme.Example", employment_type="employee", status="active"):
    return {"employee_id": employee_id, "work_email": email, "employment_type": employment_type,
            "employment_status": status}


def completion(course, success=True, score=90, at=T, voided=False, employee_id="E001"):
    return {"employee_id": employee_id, "course_code": course, "success": success, "score": score,
            "completed_at": at, "voided": voided}


def credential(employee_id="E001", expiry=date(2028, 3, 1)):
    return {"employee_id": employee_id, "credential_id": "11111111-1111-1111-1111-111111111111",
            "award_id": "22222222-2222-2222-2222-222222222222", "credential_type": "cpr_aed", "rule_id": "CPR-AED",
            "issuer": "credsync-training", "issue_date": date(2026, 3, 1), "expiry_date": expiry, "created_at": T}


def build(workers, completions=(), credentials=()):
    return build_members("acme", PROFILE, workers, completions, credentials, pseudonymise=psn,
                         achievement_names={"CPR-AED": "CPR & AED"})


def test_every_seed_row_is_in_the_csv():
    targets = set(load_mapping("marketplace_member", "v1").target_fields)
    assert {"member_id", "email", "learning_completed.completed", "learning_completed.completed_at",
            "score.score", "score.grading_scale", "badge_awarded.badge_id", "badge_awarded.issued_at",
            "enrollment_state.state", "certificate_ref.url", "certificate_ref.retain_until"} <= targets
    assert set(sections()) == {"member", "learning_completed", "score", "enrollment_state", "badge_awarded",
                               "certificate_ref"}


def test_an_employee_maps_to_the_contract_record():
    built = build([worker()], [completion("CPR-101", success=False, score=60, at=T.replace(day=1)),
                               completion("CPR-101", score=95, at=T.replace(day=2)),
                               completion("SAFETY-100", success=False, score=None)], [credential()])
    assert not built.refused
    member = to_json(built.members[0])
    assert member["member_id"] == "E001"
    assert member["email"] == "ann.lee@acme.example"
    assert member["learning_completed"] == [{"course_id": "CPR-101", "completed": True,
                                             "completed_at": "2026-03-02T08:00:00Z"}]
    assert member["score"] == [{"course_id": "CPR-101", "score": 95.0, "grading_scale": "0-100"}]
    assert member["enrollment_state"] == [{"course_id": "CPR-101", "state": "completed"},
                                          {"course_id": "SAFETY-100", "state": "active"}]
    assert member["badge_awarded"] == [{"badge_id": "22222222-2222-2222-2222-222222222222", "name": "CPR & AED",
                                        "issued_at": "2026-03-01T08:00:00Z", "issuer": "credsync-training",
                                        "credential_url": "https://credentials.acme.example/credentials/"
                                                          "22222222-2222-2222-2222-222222222222"}]
    assert member["certificate_ref"][0]["retain_until"] == "2029-03-01"  # expiry + 365 days


def test_contractors_and_alumni_go_under_pseudonyms():
    built = build([worker("C7", "c7@acme.example", "contractor"), worker("E9", "e9@acme.example", status="terminated"),
                   worker("E10", "e10@acme.example")],
                  [completion("CPR-101", voided=True, employee_id="E9")])
    ids = [m["member_id"] for m in built.members]
    assert is_pseudonym(ids[0]) and ids[0] == psn("employee_id", "C7")
    assert is_pseudonym(ids[1]) and ids[2] == "E10"
    assert built.members[0]["email"] == f"{psn('email', 'c7@acme.example')}@pseudonyms.credsync.example"
    assert "c7@acme.example" not in str(built.members)
    assert built.members[1]["enrollment_state"] == [{"course_id": "CPR-101", "state": "dropped"}]
    assert ("employee_id", "C7") in built.pseudonymised and ("email", "e9@acme.example") in built.pseudonymised


@pytest.mark.parametrize(("record", "rule"), [
    (worker(email="not an email"), "email_format"),
    (worker(email=None), "required"),
    (worker(employee_id="E\x00"), "control_characters"),
])
def test_a_worker_that_cannot_be_mapped_is_refused_naming_record_and_rule(record, rule):
    built = build([record, worker("E2", "e2@acme.example")])
    assert [m["member_id"] for m in built.members] == ["E2"]
    [refusal] = built.refused
    assert refusal.rule == rule
    assert "marketplace_member_v1.csv" in refusal.reason and "record 1" in refusal.reason


def test_a_bad_item_is_refused_alone_and_the_member_still_goes():
    built = build([worker()], [completion("CPR-101", score=130), completion("FIRSTAID-110", score=80)])
    [member] = built.members
    assert [s["course_id"] for s in member["score"]] == ["FIRSTAID-110"]
    assert len(member["learning_completed"]) == 2
    [refusal] = built.refused
    assert (refusal.rule, refusal.record_key) == ("score_range", "E001/score/CPR-101")


def test_a_certificate_url_that_is_not_https_is_refused():
    profile = MarketplaceProfile("acme", "m", "http://credentials.acme.example/{award_id}")
    built = build_members("acme", profile, [worker()], [], [credential()], pseudonymise=psn)
    assert {r.rule for r in built.refused} == {"url_https"}
    assert built.members[0]["badge_awarded"] == [] and built.members[0]["certificate_ref"] == []


@pytest.mark.parametrize("raw", [{"conn": "m"}, {"conn": "m", "certificate_url": "https://x.example/c"},
                                 {"conn": "m", "certificate_url": "https://x/{award_id}", "pseudonymise": ["all"]},
                                 {"conn": "m", "certificate_url": "https://x/{award_id}", "extra": 1}])
def test_a_bad_profile_is_refused_naming_the_field(raw):
    with pytest.raises(TenantConfigError, match="marketplace"):
        parse_profile("tenants.yaml: tenant #1 (acme)", "acme", raw)

ANY_TEXT = st.one_of(st.none(), st.text(max_size=80), st.integers(), st.booleans())


@given(st.lists(st.tuples(ANY_TEXT, ANY_TEXT, ANY_TEXT, st.one_of(st.none(), st.floats(allow_nan=True),
                                                                    st.text(max_size=10))), min_size=1, max_size=5))
@settings(max_examples=200, deadline=None)
def test_hostile_source_values_end_mapped_or_refused_never_raise(rows):
    # core.workers keys employee_id per tenant: distinct, text (any text)
    workers = [{"employee_id": f"{'' if employee_id is None else employee_id}#{n}", "work_email": email,
                "employment_type": "employee", "employment_status": "active"}
               for n, (employee_id, email, _, _) in enumerate(rows)]
    completions = [{"employee_id": w["employee_id"], "course_code": course, "success": True, "score": score,
                    "completed_at": T, "voided": False} for w, (_, _, course, score) in zip(workers, rows, strict=True)]
    built = build(workers, completions)
    refused_workers = [r for r in built.refused if r.section == "member"]
    assert len(built.members) + len(refused_workers) == len(workers), "a worker was neither mapped nor refused"
    for member in built.members:
        to_json(member)  # what goes out is JSON
        assert all(0 <= s["score"] <= 100 for s in member["score"])
