"""xAPI statements and LMS REST completions normalise to one shape; bad ones carry a quarantine rule."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from credsync.learning.normalise import normalise_lms_completion, normalise_statement

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
VERBS = "http://adlnet.gov/expapi/verbs/"


def statement(**overrides: object) -> dict:
    base: dict = {
        "id": "6f1e7c9a-0000-4000-8000-000000000001",
        "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": "E00042"}},
        "verb": {"id": VERBS + "passed"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/FORKLIFT-200"},
        "result": {"score": {"scaled": 0.88}, "success": True, "completion": True},
        "context": {"registration": "0b0f8c3e-1111-4222-8333-444455556666"},
        "timestamp": "2025-05-01T12:00:00+02:00",
        "stored": "2025-05-01T10:00:01.123Z",
        "version": "1.0.3",
    }
    base.update(overrides)
    return base


def norm(stmt: dict):
    return normalise_statement(stmt, tenant_id="acme", row_number=1, now=NOW)


def test_account_actor_scaled_score_and_offset_timestamp_normalise_to_utc() -> None:
    row = norm(statement())
    assert row.quarantine_rule is None
    assert (row.actor_key, row.course_code, row.verb, row.success) == ("account:E00042", "FORKLIFT-200", "passed", True)
    assert row.score == pytest.approx(88.0)
    assert row.completed_at == datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
    assert row.registration == "0b0f8c3e-1111-4222-8333-444455556666"


def test_raw_min_max_score_and_2_0_shape_are_accepted() -> None:
    row = norm(statement(result={"score": {"raw": 36, "min": 0, "max": 40}, "success": True}, version="2.0.0",
                         verb={"id": "https://w3id.org/xapi/adl/verbs/mastered"}))
    assert (row.verb, row.score, row.quarantine_rule) == ("mastered", 90.0, None)


def test_mbox_actor_is_normalised_like_hris_emails() -> None:
    row = norm(statement(actor={"mbox": "mailto:Ann.Lee+lms@Acme.Example"}))
    assert row.actor_key == "mbox:ann.lee@acme.example"


def test_mbox_sha1sum_actor_is_kept_as_hash() -> None:
    digest = hashlib.sha1(b"mailto:ann@acme.example").hexdigest()  # noqa: S324
    assert norm(statement(actor={"mbox_sha1sum": digest})).actor_key == f"sha1:{digest}"


def test_failed_verb_is_not_success_even_if_result_says_so() -> None:
    row = norm(statement(verb={"id": VERBS + "failed"}, result={"score": {"scaled": 0.4}, "success": True}))
    assert (row.verb, row.success) == ("failed", False)


def test_voiding_statement_names_its_target() -> None:
    row = norm(statement(verb={"id": VERBS + "voided"}, actor={"mbox": "mailto:lms-admin@acme.example"},
                         object={"objectType": "StatementRef", "id": "abc-target"}, result=None))
    assert (row.verb, row.voids_source_id, row.quarantine_rule) == ("voided", "abc-target", None)


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"actor": {"objectType": "Agent", "name": "no identifier"}}, "actor_present"),
        ({"actor": {"account": {"homePage": "https://other.example", "name": "E1"}}}, "actor_present"),
        ({"result": {"score": {"raw": 140, "min": 0, "max": 100}}}, "score_in_range"),
        ({"timestamp": "2025-07-01T00:00:00Z"}, "timestamp_not_future"),
        ({"verb": {"id": VERBS + "attempted"}}, "known_verb"),
        ({"object": {"id": "https://lms.globex.example/courses/CPR-101"}}, "course_activity"),
        ({"stored": None}, "timestamp_valid"),
    ],
)
def test_bad_statement_is_quarantined_with_rule_and_reason(overrides: dict, rule: str) -> None:
    row = norm(statement(**overrides))
    assert row.quarantine_rule == rule
    assert row.quarantine_reason


def test_lms_completion_maps_scorm_status_and_raw_score() -> None:
    item = {"enrollment_id": "enr-1", "user_external_id": "E00042", "course_code": "HAZMAT-300",
            "completion_status": "completed", "success_status": "passed",
            "score": {"raw": 45, "min": 0, "max": 50, "scaled": None},
            "completed_at": "2025-04-02T08:00:00-05:00", "updated_at": "2025-04-02T13:00:05Z"}
    row = normalise_lms_completion(item, row_number=1, now=NOW)
    assert row is not None and row.quarantine_rule is None
    assert (row.source, row.actor_key, row.verb, row.success, row.score) == (
        "lms_rest", "account:E00042", "passed", True, 90.0)
    assert row.completed_at == datetime(2025, 4, 2, 13, 0, tzinfo=UTC)


def test_lms_enrollment_in_progress_is_not_a_completion() -> None:
    item = {"enrollment_id": "enr-2", "user_external_id": "E1", "course_code": "CPR-101",
            "completion_status": "incomplete", "success_status": "unknown", "score": None,
            "completed_at": None, "updated_at": "2025-04-02T13:00:05Z"}
    assert normalise_lms_completion(item, row_number=1, now=NOW) is None
