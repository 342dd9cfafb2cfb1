"""The LMS completion receiver's rules without a warehouse: signature, window, contract, hostile bodies."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credsync.events.receiver import SIGNATURE_HEADER, CompletionReceiver, parse_event, sign
from credsync.ingest.signed_webhooks import Rejection, WebhookRejected
from sandbox.lms_events import completion_event, completion_item
from sandbox.lms_events import sign as sandbox_sign

SECRET = "whsec-rules"
NOW = 1_767_600_000


def receiver(**kwargs) -> CompletionReceiver:
    # No warehouse: every case here is refused before anything is recorded.
    return CompletionReceiver("postgresql://unused", secret_for=lambda t: SECRET if t == "acme" else None,
                              wake=lambda tenant, event: None, clock=lambda: NOW, **kwargs)


def body_of(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def reason(excinfo) -> Rejection:
    return excinfo.value.reason


def test_the_sandbox_signs_as_the_receiver_verifies() -> None:
    body = body_of(completion_event("acme", completion_item("E1")))
    assert sandbox_sign(SECRET, body, NOW) == sign(SECRET, body, NOW)


@pytest.mark.parametrize(("tenant", "header", "expected"), [
    ("acme", None, Rejection.BAD_SIGNATURE),
    ("acme", "t=1", Rejection.BAD_SIGNATURE),
    ("acme", sign("other-secret", b"x", NOW), Rejection.BAD_SIGNATURE),
    ("acme", "STALE", Rejection.STALE_TIMESTAMP),
    ("globex", "GOOD", Rejection.UNKNOWN_TENANT),
    ("../acme", "GOOD", Rejection.UNKNOWN_TENANT),
])
def test_refusals_before_anything_is_recorded(tenant, header, expected) -> None:
    body = body_of(completion_event("acme", completion_item("E1")))
    header = {"GOOD": sign(SECRET, body, NOW), "STALE": sign(SECRET, body, NOW - 301)}.get(header, header)
    with pytest.raises(WebhookRejected) as excinfo:
        receiver().receive(tenant, body, header)
    assert reason(excinfo) is expected
    assert SECRET not in str(excinfo.value)


def test_the_body_limit_is_checked_before_the_hmac() -> None:
    body = b"{" + b" " * (64 * 1024) + b"}"
    with pytest.raises(WebhookRejected) as excinfo:
        receiver().receive("acme", body, sign(SECRET, body, NOW))
    assert reason(excinfo) is Rejection.TOO_LARGE


@pytest.mark.parametrize("change", [
    {"type": "completion.deleted"},
    {"tenant_id": "globex"},
    {"occurred_at": "yesterday"},
    {"occurred_at": "2026-01-01T00:00:00"},
    {"completion": "E1 passed"},
    {"completion": {"enrollment_id": "e1", "user_external_id": "E1"}},
    {"completion": {"enrollment_id": "e\x001", "user_external_id": "E1", "course_code": "CPR-101"}},
    {"event_id": "a\nb"},
])
def test_contract_violations_are_malformed(change) -> None:
    event = {**completion_event("acme", completion_item("E1")), **change}
    with pytest.raises(WebhookRejected) as excinfo:
        parse_event("acme", body_of(event))
    assert reason(excinfo) is Rejection.MALFORMED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None), max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["event_id", "type", "tenant_id", "occurred_at", "completion", "x"]),
                       json_values, max_size=6))
def test_any_signed_json_object_is_an_event_or_malformed(data) -> None:
    body = json.dumps(data, allow_nan=True).encode("utf-8", "surrogatepass")
    try:
        event = parse_event("acme", body)
    except WebhookRejected as exc:
        assert exc.reason is Rejection.MALFORMED
    else:
        assert event.tenant_id == "acme" and event.enrollment_id


def test_the_header_name_is_the_lms_one() -> None:
    with pytest.raises(WebhookRejected, match=SIGNATURE_HEADER):
        receiver().receive("acme", b"{}", None)
