"""NUL, control characters, lone surrogates and non-finite numbers quarantine their own record,
naming the record, the field and the rule; what is kept of the record is storable and exact."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from credsync.learning.normalise import (
    StagedCompletion,
    escape_text,
    find_unstorable,
    normalise_lms_completion,
    normalise_statement,
)
from credsync.learning.staging import storable

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SID = "6f1e7c9a-0000-4000-8000-000000000001"


def statement(**overrides: object) -> dict:
    base: dict = {
        "id": SID,
        "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": "E00042"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/FORKLIFT-200",
                   "definition": {"name": {"en-US": "Forklift"}}},
        "result": {"score": {"scaled": 0.88}, "success": True, "response": "ok"},
        "timestamp": "2025-05-01T12:00:00Z",
        "stored": "2025-05-01T10:00:01.123Z",
    }
    base.update(overrides)
    return base


def norm(stmt: object) -> StagedCompletion:
    return normalise_statement(stmt, tenant_id="acme", row_number=3, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "field", "what"), [
    (lambda s: s["object"]["definition"]["name"].update({"en-US": "Fork\x00lift"}),
     "object.definition.name.en-US", "U+0000 (NUL) at offset 4"),
    (lambda s: s["result"].update(response="\x1b[31mred"), "result.response", "U+001B (ESC) at offset 0"),
    (lambda s: s["actor"]["account"].update(name="E0004\x7f"), "actor.account.name", "U+007F (DEL)"),
    (lambda s: s["result"].update(response="\x85"), "result.response", "U+0085 (control character)"),
    (lambda s: s.setdefault("context", {}).update(
        extensions={"https://lms.acme.example/x/\x00key": 1}),
     'context.extensions["https://lms.acme.example/x/\\\\u0000key"]', "a key holding U+0000 (NUL)"),
    (lambda s: s.setdefault("context", {}).update(contextActivities={"parent": [{"id": "a"}, {"id": "b\x08"}]}),
     "context.contextActivities.parent[1].id", "U+0008 (BS)"),
])  # fmt: skip
def test_control_characters_quarantine_the_statement_naming_field_and_rule(change, field, what) -> None:
    stmt = statement()
    change(stmt)
    row = norm(stmt)
    assert row.quarantine_rule == "control_characters"
    assert row.quarantine_reason.startswith(f"statement {SID}: {field}: {what}")
    # Nothing derived from the record reaches a staging column.
    assert (row.actor_key, row.course_code, row.verb, row.score) == (None, None, None, None)


def test_tab_newline_and_carriage_return_are_ordinary_text() -> None:
    row = norm(statement(result={"response": "line 1\r\nline\t2", "success": True}))
    assert row.quarantine_rule is None


def test_a_lone_surrogate_breaks_valid_unicode_and_a_nan_score_data_type() -> None:
    assert norm(statement(result={"response": "\ud800"})).quarantine_rule == "invalid_unicode"
    row = norm(statement(result={"score": {"raw": float("nan"), "min": 0, "max": 10}}))
    assert (row.quarantine_rule, "result.score.raw: nan" in row.quarantine_reason) == ("data_type", True)


def test_every_field_is_named_and_the_first_rule_wins() -> None:
    stmt = statement(result={"response": "a\x00"})
    stmt["object"]["definition"]["name"]["en-US"] = "\ud83d"
    row = norm(stmt)
    assert row.quarantine_rule == "invalid_unicode"  # object comes before result in the statement
    assert "object.definition.name.en-US: U+D83D (lone surrogate)" in row.quarantine_reason
    assert "result.response: U+0000 (NUL) at offset 1 [control_characters]" in row.quarantine_reason


def test_the_kept_copy_is_storable_and_gives_back_the_exact_original() -> None:
    stmt = statement(id=f"{SID}\x00")
    stmt["result"]["response"] = "lift\x00 3m \ud800"
    row = norm(stmt)
    assert row.source_id == f"{SID}\\u0000"  # the key is escaped too: it goes into a text column
    stored = json.dumps(row.raw)  # what staging COPYs into jsonb
    assert "\\u0000" not in stored.replace("\\\\u0000", "")  # only escaped backslashes: jsonb takes it
    assert json.loads(row.raw["statement_json"]) == stmt
    assert row.raw["statement"]["result"]["response"] == "lift\\u0000 3m \\ud800"
    assert row.raw["unstorable_fields"] == ["id", "result.response"]


def test_an_lms_completion_with_nul_is_quarantined_with_its_enrollment_id() -> None:
    item = {"enrollment_id": "enr-1", "user_external_id": "E1", "course_code": "SAFETY\x00-100",
            "completion_status": "completed", "completed_at": "2025-05-02T09:00:00Z",
            "updated_at": "2025-05-02T09:00:00Z"}
    row = normalise_lms_completion(item, row_number=1, now=NOW)
    assert row is not None and row.quarantine_rule == "control_characters"
    assert row.quarantine_reason.startswith("enrollment enr-1: course_code: U+0000 (NUL)")


def test_a_statement_that_is_not_an_object_is_quarantined() -> None:
    for value in (["a"], "text\x00", 7, None):
        row = norm(value)
        assert row.quarantine_rule == "record_shape", value
        json.dumps(row.raw, allow_nan=False)
        assert "\x00" not in json.dumps(row.raw, ensure_ascii=False)


def test_staging_quarantines_a_record_built_elsewhere_that_still_holds_nul() -> None:
    row = norm(statement())
    row.actor_key = "account:E\x0042"
    fixed, raw_json = storable(row)
    assert fixed.quarantine_rule == "control_characters"
    assert fixed.actor_key == "account:E\\u000042"
    assert "actor_key: U+0000 (NUL)" in fixed.quarantine_reason and SID in fixed.quarantine_reason
    assert json.loads(json.loads(raw_json)["statement_json"])["id"] == SID


def test_staging_leaves_an_escaped_backslash_alone() -> None:
    row = norm(statement(result={"response": "C:\\u0000dir", "success": True}))
    assert row.quarantine_rule is None
    fixed, raw_json = storable(row)
    assert fixed is row and json.loads(raw_json)["result"]["response"] == "C:\\u0000dir"


def test_find_unstorable_and_escape_text_agree() -> None:
    text = "a\x00b\x1fc\x7fd\ud800e\tf"
    assert escape_text(text) == "a\\u0000b\\u001fc\\u007fd\\ud800e\tf"
    assert [f.rule for f in find_unstorable({"k": text})] == ["control_characters"]
    assert find_unstorable({"k": escape_text(text)}) == []
