"""Property-based: whatever arrives at the HRIS webhook receiver, it is refused with a reason or it is an event.

Free-form input (any bytes, any header text, any path tenant, any JSON a
signer could send) never makes the signature/parse path raise anything but
:class:`WebhookRejected`; what is accepted is an event that can be stored as it is.
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from credsync.people.webhooks import (
    EVENT_FIELDS,
    MAX_BODY_BYTES,
    Rejection,
    WebhookEvent,
    WebhookReceiver,
    WebhookRejected,
    check_declared_length,
    parse_event,
    sign,
    verify_signature,
)

SECRET = "whsec-property-test"
NOW = 1_767_600_000
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every character, lone surrogates and NUL included: JSON escapes let a sender put any of them in a string.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
json_scalar = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
               | any_text)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(any_text, inner, max_size=4), max_leaves=12)
hex_digest = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)
header_text = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.builds(lambda t, vs: ",".join([f"t={t}", *(f"v1={v}" for v in vs)]),
              st.integers(min_value=-10, max_value=10**13), st.lists(hex_digest, max_size=3)),
)


DROP = object()


def event_parts(tenant: str = "acme") -> st.SearchStrategy[tuple[dict, dict, dict]]:
    """``(valid event, corruptions, extra fields)``: up to two contract fields replaced by anything (or
    dropped), and fields outside the contract that may hold anything."""
    valid = st.fixed_dictionaries({
        "event_id": st.uuids().map(str), "type": st.sampled_from(["worker.hired", "worker.terminated"]),
        "tenant_id": st.just(tenant), "employee_id": st.from_regex(r"\A[A-Z][0-9]{6}\Z"),
        "occurred_at": st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    })
    corruptions = st.dictionaries(st.sampled_from(EVENT_FIELDS), json_value | st.just(DROP), max_size=2)
    extra = st.dictionaries(any_text.filter(lambda k: k not in EVENT_FIELDS), json_value, max_size=2)
    return st.tuples(valid, corruptions, extra)


def combined(parts: tuple[dict, dict, dict]) -> dict:
    valid, corruptions, extra = parts
    event = {**extra, **valid, **corruptions}
    return {name: value for name, value in event.items() if value is not DROP}


def event_like(tenant: str = "acme") -> st.SearchStrategy[dict]:
    return event_parts(tenant).map(combined)


def storable(value: object) -> bool:
    try:
        # ensure_ascii=False: a lone surrogate must surface as unencodable, as it does in Postgres,
        # instead of hiding behind a "\\ud800" escape that jsonb refuses too.
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return "\\u0000" not in text


def encoded(value: object) -> bytes:
    return json.dumps(value).encode()  # allow_nan: a careless sender's NaN reaches us as the bytes NaN


def assert_storable(event: WebhookEvent) -> None:
    """What audit.hris_webhook_events can hold: jsonb takes no NUL and no NaN; UTF-8 no lone surrogates."""
    text = json.dumps(event.body, allow_nan=False)
    text.encode("utf-8")
    assert "\\u0000" not in text
    for name in EVENT_FIELDS:
        assert isinstance(event.body[name], str) and event.body[name].strip()
        assert not any(ord(c) < 32 or ord(c) == 127 for c in event.body[name]), name


@PROPERTY
@given(body=st.binary(max_size=2048), header=header_text)
def test_unsigned_input_is_always_a_bad_signature(body, header):
    try:
        verify_signature(SECRET, body, header, now=NOW)
    except WebhookRejected as exc:
        assert exc.reason is Rejection.BAD_SIGNATURE and exc.detail
        assert SECRET not in str(exc)
    else:
        raise AssertionError("a signature nobody made verified")


@PROPERTY
@given(tenant=st.text(max_size=40) | st.just("acme"), body=st.binary(max_size=MAX_BODY_BYTES + 64) | st.builds(
    encoded, event_like()), header=header_text)
@example(tenant="acme", body=b"x" * (MAX_BODY_BYTES + 1), header=None)
def test_receive_refuses_any_unsigned_delivery_with_a_reason(tenant, body, header):
    receiver = WebhookReceiver("postgresql://unused/none", secret_for=lambda t: SECRET if t == "acme" else None,
                               trigger=_never, clock=lambda: NOW)
    try:
        receiver.receive(tenant, body, header)
    except WebhookRejected as exc:
        assert exc.reason in {Rejection.BAD_SIGNATURE, Rejection.UNKNOWN_TENANT, Rejection.TOO_LARGE}, exc
        assert exc.detail
    else:
        raise AssertionError("an unsigned delivery was processed")


@PROPERTY
@given(body=st.binary(max_size=4096) | st.builds(encoded, json_value) | st.builds(encoded, event_like()))
@example(body=b"[" * 30_000 + b"]" * 30_000)  # within the limit, deeper than the parser's stack: was a 500
@example(body=b'{"event_id": NaN}')
@example(body=b'{"x": 1e999}')
@example(body=b'{"x": "\\u0000"}')
@example(body=b'{"x": "\\ud800"}')
def test_signed_bytes_parse_to_a_storable_event_or_are_malformed(body):
    header = sign(SECRET, body, NOW)
    receiver = WebhookReceiver("postgresql://unused/none", secret_for=lambda t: SECRET, trigger=_never,
                               clock=lambda: NOW)
    try:
        event = receiver._verified("acme", body, header)
    except WebhookRejected as exc:
        assert exc.reason in {Rejection.MALFORMED, Rejection.TOO_LARGE} and exc.detail
        assert exc.reason is not Rejection.TOO_LARGE or len(body) > MAX_BODY_BYTES
    else:
        assert_storable(event)


@PROPERTY
@given(parts=event_parts())
def test_an_event_parses_when_its_fields_are_right_and_is_refused_naming_what_is_not(parts):
    _, corruptions, extra = parts
    event = combined(parts)
    try:
        parsed = parse_event("acme", encoded(event))
    except WebhookRejected as exc:
        assert exc.reason is Rejection.MALFORMED
        assert corruptions or not storable(extra), f"a valid event was refused: {exc.detail}"
        named = [name for name in EVENT_FIELDS if repr(name) in exc.detail]
        assert named or "not JSON" in exc.detail or "outside the contract" in exc.detail, exc.detail
        return
    assert_storable(parsed)
    assert (parsed.event_id, parsed.type, parsed.employee_id) == (event["event_id"], event["type"],
                                                                 event["employee_id"])
    assert parsed.occurred_at.tzinfo is not None
    if not corruptions:
        assert parsed.body == event


@PROPERTY
@given(value=st.none() | st.text(max_size=30) | st.integers(min_value=0, max_value=10**25).map(str),
       limit=st.integers(min_value=1024, max_value=1024 * 1024))
def test_declared_length_is_a_length_within_the_limit_or_refused(value, limit):
    try:
        declared = check_declared_length(value, limit)
    except WebhookRejected as exc:
        assert exc.reason in {Rejection.TOO_LARGE, Rejection.MALFORMED}
        if exc.reason is Rejection.TOO_LARGE:
            assert int(value.strip()) > limit
        return
    assert declared is None if value is None else 0 <= declared <= limit


def test_non_data_type_never_reach_the_event() -> None:
    for body in (b'{"x": NaN}', b'{"x": -Infinity}', b'{"x": 1e400}'):
        try:
            parse_event("acme", body)
        except WebhookRejected as exc:
            assert exc.reason is Rejection.MALFORMED
        else:
            raise AssertionError(f"{body!r} parsed")
    assert math.isfinite(1e308)


def _never(event) -> str:
    raise AssertionError("a rejected delivery must not trigger anything")
