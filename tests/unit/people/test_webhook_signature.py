"""The HRIS webhook verification rules: signature, timestamp window, event shape, tenant, HTTP answers."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from credsync.people.webhook_app import create_app, webhook_run_id
from credsync.people.webhooks import (
    SIGNATURE_HEADER,
    Rejection,
    WebhookReceiver,
    WebhookRejected,
    parse_event,
    sign,
    verify_signature,
)
from sandbox.hris.webhooks import sign as hris_sandbox_sign

SECRET = "whsec-unit-test-0123456789"
NOW = 1_767_600_000
EVENT = {"event_id": "0b6c7c8e-5d0e-4a59-9d0f-8f3f0c1d2e3f", "type": "worker.terminated", "tenant_id": "acme",
         "employee_id": "A000042", "occurred_at": "2026-01-05T08:00:00.123456Z"}
BODY = json.dumps(EVENT, separators=(",", ":")).encode()


def rejection(excinfo: pytest.ExceptionInfo[WebhookRejected]) -> Rejection:
    return excinfo.value.reason


def test_signature_made_by_the_hris_sandbox_verifies() -> None:
    header = hris_sandbox_sign(SECRET, BODY, NOW)
    assert header == sign(SECRET, BODY, NOW)
    assert verify_signature(SECRET, BODY, header, now=NOW) == NOW


@pytest.mark.parametrize("tamper", [
    lambda body: body.replace(b"A000042", b"A000043"),
    lambda body: body + b" ",
    lambda body: body.replace(b"terminated", b"hired"),
])
def test_any_change_to_the_body_breaks_the_signature(tamper) -> None:
    with pytest.raises(WebhookRejected) as err:
        verify_signature(SECRET, tamper(BODY), sign(SECRET, BODY, NOW), now=NOW)
    assert rejection(err) is Rejection.BAD_SIGNATURE


def test_signature_with_another_secret_is_rejected() -> None:
    with pytest.raises(WebhookRejected) as err:
        verify_signature(SECRET, BODY, sign("some-other-secret", BODY, NOW), now=NOW)
    assert rejection(err) is Rejection.BAD_SIGNATURE


def test_signed_timestamp_cannot_be_swapped_for_a_fresh_one() -> None:
    old = sign(SECRET, BODY, NOW - 3600)
    digest = old.split("v1=")[1]
    with pytest.raises(WebhookRejected) as err:
        verify_signature(SECRET, BODY, f"t={NOW},v1={digest}", now=NOW)
    assert rejection(err) is Rejection.BAD_SIGNATURE


@pytest.mark.parametrize("header", [
    None, "", "v1=" + "0" * 64, f"t={NOW}", f"t={NOW},v1=nothex", f"t=soon,v1={'a' * 64}",
    f"t=\u00b2,v1={'a' * 64}", "garbage", f"t={NOW};v1={'a' * 64}",
])
def test_missing_or_unreadable_signature_header_is_a_bad_signature(header) -> None:
    with pytest.raises(WebhookRejected) as err:
        verify_signature(SECRET, BODY, header, now=NOW)
    assert rejection(err) is Rejection.BAD_SIGNATURE


def test_any_matching_v1_is_enough_so_secrets_can_be_rotated() -> None:
    current = sign(SECRET, BODY, NOW).split("v1=")[1]
    retired = sign("retired-secret", BODY, NOW).split("v1=")[1]
    assert verify_signature(SECRET, BODY, f"t={NOW}, v1={retired}, v1={current.upper()}", now=NOW) == NOW


@pytest.mark.parametrize(("signed_at", "accepted"), [
    (NOW - 300, True), (NOW + 300, True), (NOW - 301, False), (NOW + 301, False), (NOW - 86_400, False),
])
def test_timestamp_must_lie_within_five_minutes_either_side(signed_at, accepted) -> None:
    header = sign(SECRET, BODY, signed_at)
    if accepted:
        assert verify_signature(SECRET, BODY, header, now=NOW) == signed_at
        return
    with pytest.raises(WebhookRejected) as err:
        verify_signature(SECRET, BODY, header, now=NOW)
    assert rejection(err) is Rejection.STALE_TIMESTAMP


def test_timestamp_window_is_configurable() -> None:
    header = sign(SECRET, BODY, NOW - 90)
    assert verify_signature(SECRET, BODY, header, now=NOW, tolerance_seconds=120) == NOW - 90
    with pytest.raises(WebhookRejected) as err:
        verify_signature(SECRET, BODY, header, now=NOW, tolerance_seconds=60)
    assert rejection(err) is Rejection.STALE_TIMESTAMP


def test_a_forged_stale_request_is_told_bad_signature_not_stale() -> None:
    with pytest.raises(WebhookRejected) as err:
        verify_signature(SECRET, BODY, sign("forger", BODY, NOW - 9999), now=NOW)
    assert rejection(err) is Rejection.BAD_SIGNATURE


def test_well_formed_event_parses() -> None:
    event = parse_event("acme", BODY)
    assert (event.event_id, event.type, event.employee_id) == (EVENT["event_id"], "worker.terminated", "A000042")
    assert event.occurred_at.utcoffset().total_seconds() == 0 and event.body == EVENT


@pytest.mark.parametrize(("body", "says"), [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({**EVENT, "event_id": ""}).encode(), "event_id"),
    (json.dumps({k: v for k, v in EVENT.items() if k != "employee_id"}).encode(), "employee_id"),
    (json.dumps({**EVENT, "employee_id": 42}).encode(), "employee_id"),
    (json.dumps({**EVENT, "type": "worker.promoted"}).encode(), "type"),
    (json.dumps({**EVENT, "tenant_id": "globex"}).encode(), "differs from the tenant"),
    (json.dumps({**EVENT, "occurred_at": "yesterday"}).encode(), "ISO 8601"),
    (json.dumps({**EVENT, "occurred_at": "2026-01-05T08:00:00"}).encode(), "UTC offset"),
    (json.dumps({**EVENT, "event_id": "x" * 201}).encode(), "longer than"),
    (json.dumps({**EVENT, "padding": "x" * 70_000}).encode(), "larger than"),
])
def test_malformed_events_are_rejected_with_the_field_named(body, says) -> None:
    with pytest.raises(WebhookRejected) as err:
        parse_event("acme", body)
    assert rejection(err) is Rejection.MALFORMED and says in err.value.detail


def test_unknown_tenant_is_rejected_before_anything_else(caplog) -> None:
    asked: list[str] = []

    def secret_for(tenant_id: str) -> str | None:
        asked.append(tenant_id)
        return None

    receiver = WebhookReceiver("postgresql://unused/none", secret_for=secret_for, trigger=_never, clock=lambda: NOW)
    for tenant in ("initech", "Not A Tenant/../x"):
        with pytest.raises(WebhookRejected) as err:
            receiver.receive(tenant, BODY, sign(SECRET, BODY, NOW))
        assert rejection(err) is Rejection.UNKNOWN_TENANT
    assert asked == ["initech"], "a path that is no tenant id never reaches the Connection lookup"
    assert "Not A Tenant" not in caplog.text


def test_rejections_never_reveal_the_secret_or_the_signature(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = WebhookReceiver("postgresql://unused/none", secret_for=lambda t: SECRET, trigger=_never,
                               clock=lambda: NOW)
    forged = sign("forger", BODY, NOW)
    good_but_stale = sign(SECRET, BODY, NOW - 400)
    details = []
    for header in (forged, good_but_stale, "t=1,v1=zz"):
        with pytest.raises(WebhookRejected) as err:
            receiver.receive("acme", BODY, header)
        details.append(str(err.value))
    shown = caplog.text + "\n".join(details)
    assert "rejected (bad_signature)" in caplog.text and "rejected (stale_timestamp)" in caplog.text
    for value in (SECRET, forged.split("v1=")[1], good_but_stale.split("v1=")[1]):
        assert value not in shown


@pytest.mark.parametrize(("tenant", "body", "header", "status", "reason"), [
    ("initech", BODY, sign(SECRET, BODY, NOW), 404, "unknown_tenant"),
    ("acme", BODY, None, 401, "bad_signature"),
    ("acme", BODY, sign("forger", BODY, NOW), 401, "bad_signature"),
    ("acme", BODY, sign(SECRET, BODY, NOW - 301), 400, "stale_timestamp"),
    ("acme", b"{}", sign(SECRET, b"{}", NOW), 400, "malformed"),
])
def test_receiver_answers_each_rejection_with_its_status(tenant, body, header, status, reason) -> None:
    receiver = WebhookReceiver("postgresql://unused/none", secret_for=lambda t: SECRET if t == "acme" else None,
                               trigger=_never, clock=lambda: NOW)
    headers = {SIGNATURE_HEADER: header} if header else {}
    with TestClient(create_app(receiver)) as client:
        response = client.post(f"/hris/{tenant}/webhooks", content=body, headers=headers)
    assert (response.status_code, response.json()["reason"]) == (status, reason)


def test_run_ids_follow_airflows_allowed_pattern() -> None:
    event = parse_event("acme", BODY)
    assert webhook_run_id(event) == f"hris_webhook__acme__{EVENT['event_id']}"
    odd = parse_event("acme", json.dumps({**EVENT, "event_id": "evt/42 with spaces"}).encode())
    run_id = webhook_run_id(odd)
    assert run_id.startswith("hris_webhook__acme__") and " " not in run_id and "/" not in run_id


def _never(event) -> str:
    raise AssertionError("a rejected delivery must not trigger anything")
