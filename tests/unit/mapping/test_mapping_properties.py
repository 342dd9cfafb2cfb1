"""Property: any record either maps to a clean, bounded row, or raises MappingError with a rule and a field.

Nothing else may escape ``FieldMapping.apply``: one odd value costs one quarantined record, never
the batch. Inputs are arbitrary nested records (any Unicode text including NUL and controls, huge
strings, wrong types, deep nesting) shaped like each shipped mapping's source fields, mixed with
plausible values so that the success path is exercised too.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from credsync.mapping import DEFAULT_MAX_LENGTH, FieldMapping, MappingError, load_mapping
from credsync.mapping.transforms import CHARACTER_CLASSES, CONTROL_CHARACTERS, SURROGATES

MAPPINGS = ("hris_worker_v1", "lms_completion_v1", "xapi_statement_v1", "registry_certificate_v1")
# Every rule a record error may carry; "transform_failed" (the engine's safety net) is deliberately
# absent: a value that reaches it is a bug in a transform, and this test should find it.
RECORD_RULES = {
    "control_characters", "invalid_unicode", "max_length", "max_size", "charset", "homoglyph", "mixed_script",
    "email_format", "enum", "date_format", "score_range", "data_type", "required",
}
# database=None: no .hypothesis/ example store in the working tree; the strategies are cheap to rediscover.
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])

hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=("Cs",)),  # any code point but surrogates, NUL included
        st.sampled_from("\x00\t\n\r\x1b\x7f\x85\u2028\u202e\u2066\ufeff\u200d=+-@|'\"\\"),
        st.sampled_from("\u0415\u0430\u0456\u043e\uff25\uff10\u0301AaEe09.@ "),
    ),
    max_size=40,
)
huge_text = st.builds(lambda char, n: char * n, st.sampled_from("AЖ\x00 "), st.integers(DEFAULT_MAX_LENGTH - 2,
                                                                                         DEFAULT_MAX_LENGTH + 50))
plausible_text = st.sampled_from([
    "E000739", " E000001 ", "\uff25\uff10\uff10\uff17", "ann.lee@acme.example", "Ann", "O'Brien", "Анна",
    "hris_main", "acquired_hris", "active", "terminated", "employee", "contractor", "completed", "passed",
    "2024-05-01", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00", "http://adlnet.gov/expapi/verbs/completed", "https://lms.acme.example/courses/X",
    "1e999999999", "NaN", "sNaN", "-Infinity", "1", "0", "yes", "",
])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30), st.floats(),
    hostile_text, plausible_text, huge_text,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(hostile_text, st.sampled_from(["scaled", "raw", "min", "max"])), children,
                        max_size=4),
    ),
    max_leaves=12,
)
deep = st.integers(1, 40).map(lambda depth: _nest(depth))


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": [value]}
    return value


def _set_dotted(record: dict, dotted: str, value: Any, flat: bool) -> None:
    if flat:
        record[dotted] = value
        return
    *parents, leaf = dotted.split(".")
    target = record
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[leaf] = value


@st.composite
def records(draw: st.DrawFn, mapping: FieldMapping) -> dict:
    record: dict = draw(st.dictionaries(hostile_text, values, max_size=3))
    flat = draw(st.booleans())
    for rule in mapping.rules:
        if draw(st.integers(0, 9)) == 0:
            continue  # field missing
        value = draw(st.one_of(plausible_text, values, deep) if draw(st.booleans()) else plausible_text)
        _set_dotted(record, rule.source_field, value, flat)
    return record


# One valid source record per mapping: mutating a field or two of it exercises the success path and
# each field's checks in isolation (a fully random record fails on its first field).
VALID: dict[str, dict] = {
    "hris_worker_v1": {
        "employee_id": "E000739", "source_system": "hris_main",
        "name": {"given": "Ann", "family": "Lee", "preferred": "Annie"},
        "emails": {"work": "Ann.Lee+lms@acme.example"},
        "employment": {"status": "active", "type": "employee", "hire_date": "2020-02-03",
                       "termination_date": None, "rehire_date": None, "department": "Ops",
                       "job_title": "Operator", "manager_id": "E000001", "location": "Berlin"},
        "updated_at": "2024-05-01T10:00:00Z",
    },
    "lms_completion_v1": {
        "enrollment_id": "enr-1", "user_external_id": "E00042", "course_code": "HAZMAT-300",
        "completion_status": "completed", "success_status": "passed", "score": {"raw": 45, "min": 0, "max": 50},
        "completed_at": "2025-05-01T12:00:00Z", "updated_at": "2025-05-01T12:00:01Z",
    },
    "xapi_statement_v1": {
        "id": "6f1e7c9a-0000-4000-8000-000000000001",
        "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": "E00042"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/FORKLIFT-200"},
        "result": {"score": {"scaled": 0.88}, "success": True, "completion": True},
        "context": {"registration": "0b0f8c3e-1111-4222-8333-444455556666"},
        "timestamp": "2025-05-01T12:00:00+02:00", "stored": "2025-05-01T10:00:01.123Z", "version": "1.0.3",
    },
    "registry_certificate_v1": {
        "credential.tenant_id": "acme", "credential.employee_id": "E000001", "worker.legal_name": "Ann Example",
        "credential.credential_type": "cpr_aed",
        "credential.version_tag": "2026-01-10.v1", "credential.issue_date": date(2026, 1, 10),
        "credential.expiry_date": date(2028, 1, 10), "credential.issuer": "credsync-training",
        "credential.evidence_url": "https://lms.acme.example/courses/CPR-101", "credential.vc_jwt": "eyJ.x.y",
    },
}


# Weighted: mostly hostile or plausible text (each field's own checks), sometimes wrong types,
# huge strings or deep nesting (the engine's guards).
mutation = st.one_of(hostile_text, hostile_text, hostile_text, plausible_text, plausible_text, values, huge_text,
                     deep)


@st.composite
def mutated(draw: st.DrawFn, name: str, mapping: FieldMapping) -> dict:
    import copy

    record = copy.deepcopy(VALID[name])
    flat = any("." in key for key in record)
    for rule in draw(st.lists(st.sampled_from(mapping.rules), min_size=1, max_size=2, unique=True)):
        _set_dotted(record, rule.source_field, draw(mutation), flat)
    return record


def _strings(value: Any) -> list[str]:
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


def _check(mapping: FieldMapping, record: Any) -> None:
    try:
        row = mapping.apply(record, record_number=1, record_key="K1")
    except MappingError as err:
        event(f"rejected: {err.rule}")  # --hypothesis-show-statistics shows the spread of outcomes
        assert err.rule in RECORD_RULES, f"unexpected rule {err.rule!r}: {err}"
        assert err.field in mapping.target_fields or (err.field is None and not isinstance(record, dict))
        assert err.record == 1 and err.record_key == "K1"
        message = str(err)
        assert not CONTROL_CHARACTERS.search(message) and not SURROGATES.search(message), message
        assert len(message) < 2_000, "a reason must not echo a huge value"
        return
    event("mapped")
    assert list(row) == mapping.target_fields
    for rule in mapping.rules:
        value = row[rule.target_field]
        if rule.required:
            assert value is not None, rule.target_field
        for text in _strings(value):
            assert not CONTROL_CHARACTERS.search(text), (rule.target_field, text)
            assert not SURROGATES.search(text), (rule.target_field, text)
            assert len(text) <= rule.max_length, (rule.target_field, len(text))
        for step in rule.transform_spec.split(";"):
            name, _, argument = step.strip().partition(":")
            if name == "charset" and value is not None:
                cls = CHARACTER_CLASSES[argument]
                assert all(cls.allows(char) for char in value), (rule.target_field, value)


@pytest.mark.parametrize("name", MAPPINGS)
def test_any_record_maps_cleanly_or_raises_a_named_mapping_error(name: str) -> None:
    base, _, version = name.rpartition("_")
    mapping = load_mapping(base, version)

    mapping.apply(VALID[name])  # the fixture itself maps

    @PROPERTY_SETTINGS
    @given(st.one_of(records(mapping), mutated(name, mapping), mutated(name, mapping), mutated(name, mapping)))
    def prop(record: dict) -> None:
        _check(mapping, record)

    prop()


@PROPERTY_SETTINGS
@given(st.one_of(values, st.lists(values), st.text()))
def test_a_record_that_is_not_an_object_is_a_mapping_error(record: Any) -> None:
    mapping = load_mapping("hris_worker", "v1")
    if isinstance(record, dict):
        record = [record]
    with pytest.raises(MappingError) as err:
        mapping.apply(record, record_number=1, record_key="K1")
    assert err.value.rule == "data_type"


@PROPERTY_SETTINGS
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30))
def test_an_id_that_maps_is_canonical_and_identifier_shaped(raw: str) -> None:
    mapping = load_mapping("hris_worker", "v1")
    record = {"employee_id": raw, "source_system": "hris_main", "name": {"given": "Ann", "family": "Lee"},
              "employment": {"status": "active", "type": "employee"}, "updated_at": "2024-05-01T10:00:00Z"}
    try:
        row = mapping.apply(record)
    except MappingError as err:
        assert err.field == "employee_id" and err.rule in RECORD_RULES
        return
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", row["employee_id"])
