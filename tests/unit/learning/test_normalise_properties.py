"""Property: any statement-like input (or LMS item) either normalises or is quarantined with a
rule and a reason; nothing raises, and whatever comes out can be COPYed into Postgres."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credsync.learning.normalise import normalise_lms_completion, normalise_statement
from credsync.learning.staging import storable

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RULES = {
    "control_characters", "invalid_unicode", "data_type", "record_shape", "mapping", "score_in_range",
    "timestamp_valid", "timestamp_not_future", "known_verb", "voiding_target", "actor_present", "course_activity",
    # the mapping engine's own rules for a mapped field (credsync.mapping.engine)
    "max_length", "max_size", "required", "charset", "homoglyph", "mixed_script", "enum", "date_format",
}  # fmt: skip
HOSTILE = ["\x00", "\x07", "\x1b[2J", "\x7f", "\x85", "\ud800", "\udfff", "=cmd|' /C calc'!A0", "\u202e", "\\u0000",
           "", " ", "E1", "mailto:ann@acme.example", "https://lms.acme.example/courses/CPR-101", "2025-05-01T10:00:00Z",
           "http://adlnet.gov/expapi/verbs/passed", "http://adlnet.gov/expapi/verbs/voided", "StatementRef", "9" * 400]
REFUSED = re.compile(r"[\x00\ud800-\udfff]")  # what Postgres cannot store in text or jsonb at all

text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xE000), max_size=8),  # includes Cc and Cs
    st.builds(lambda a, b, c: a + b + c, st.sampled_from(HOSTILE), st.sampled_from(HOSTILE), st.text(max_size=3)),
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), text)
json_like = st.recursive(scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)), max_leaves=8)

VALID: dict[str, Any] = {
    "id": "6f1e7c9a-0000-4000-8000-000000000001",
    "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": "E1"}},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
    "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/CPR-101",
               "definition": {"name": {"en-US": "CPR"}}},
    "result": {"score": {"scaled": 0.9}, "success": True, "response": "ok"},
    "context": {"registration": "0b0f8c3e-1111-4222-8333-444455556666"},
    "timestamp": "2025-05-01T10:00:00Z",
    "stored": "2025-05-01T10:00:01.123Z",
    "version": "1.0.3",
}
PATHS = [("id",), ("actor",), ("actor", "mbox"), ("actor", "mbox_sha1sum"), ("actor", "account", "name"),
         ("actor", "account", "homePage"), ("verb",), ("verb", "id"), ("object",), ("object", "id"),
         ("object", "objectType"), ("object", "definition", "name", "en-US"), ("result",), ("result", "score"),
         ("result", "score", "scaled"), ("result", "score", "raw"), ("result", "score", "max"),
         ("result", "success"), ("result", "response"), ("context", "registration"), ("context", "extensions"),
         ("timestamp",), ("stored",), ("version",)]  # fmt: skip


@st.composite
def statements(draw: st.DrawFn) -> Any:
    """A valid statement with some fields replaced by anything, or something else entirely."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_like)
    statement = copy.deepcopy(VALID)
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=4)):
        node = statement
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if draw(st.booleans()):
            node[path[-1]] = draw(json_like)
        else:
            node.pop(path[-1], None)
    return statement


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for item in value.values() for s in strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def refuse_constant(name: str) -> Any:
    raise AssertionError(f"{name} in raw: jsonb refuses it")


def assert_storable(row: Any) -> None:
    """What staging would COPY: every text column and every string of the jsonb value is storable."""
    fixed, raw_json = storable(row)
    stored = json.loads(raw_json, parse_constant=refuse_constant)  # the value jsonb would hold
    assert not any(REFUSED.search(s) for s in strings(stored)), raw_json
    for name in ("source_id", "actor_key", "course_code", "verb", "voids_source_id", "registration",
                 "quarantine_rule", "quarantine_reason"):
        value = getattr(fixed, name)
        assert value is None or not REFUSED.search(value), (name, value)


@PROPERTY_SETTINGS
@given(statements())
def test_any_statement_normalises_or_is_quarantined_with_a_reason(statement: Any) -> None:
    row = normalise_statement(statement, tenant_id="acme", row_number=1, now=NOW)
    if row.quarantine_rule is None:
        assert row.source_id and row.verb and row.stored_at is not None
        if row.verb == "voided":
            assert row.voids_source_id
        else:
            assert row.actor_key and row.course_code and row.completed_at is not None
            assert row.success in (True, False) and (row.score is None or 0 <= row.score <= 100)
    else:
        assert row.quarantine_rule in RULES, row.quarantine_rule
        assert isinstance(row.quarantine_reason, str) and row.quarantine_reason.strip()
    assert_storable(row)


@PROPERTY_SETTINGS
@given(st.one_of(json_like, st.fixed_dictionaries({}, optional={
    key: st.one_of(json_like, st.sampled_from(values)) for key, values in {
        "enrollment_id": ["enr-1"], "user_external_id": ["E1"], "course_code": ["CPR-101"],
        "completion_status": ["completed", "incomplete"], "success_status": ["passed", "failed", "unknown"],
        "score": [{"raw": 8, "min": 0, "max": 10}], "completed_at": ["2025-05-01T10:00:00Z"],
        "updated_at": ["2025-05-01T10:00:00Z"]}.items()})))
def test_any_lms_item_normalises_is_skipped_or_is_quarantined_with_a_reason(item: Any) -> None:
    row = normalise_lms_completion(item, row_number=1, now=NOW)
    if row is None:  # in progress: comes back when it completes
        return
    if row.quarantine_rule is None:
        assert row.source_id and row.actor_key and row.course_code and row.completed_at is not None
    else:
        assert row.quarantine_rule in RULES and row.quarantine_reason.strip()
    assert_storable(row)
