"""The HRIS webhook size limit and the checks made before the body is read (no server, no warehouse)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from fastapi.testclient import TestClient

from credsync.people.webhook_app import (
    MAX_BODY_ENV,
    REJECTION_STATUS,
    create_app,
    max_body_bytes_from_env,
    read_limited,
)
from credsync.people.webhooks import (
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    Rejection,
    WebhookReceiver,
    WebhookRejected,
    check_declared_length,
    check_max_body_bytes,
    sign,
)

SECRET = "whsec-limits-unit"
NOW = 1_767_600_000


def rejected(call, *args, **kwargs) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as err:
        call(*args, **kwargs)
    return err.value


@pytest.mark.parametrize(("header", "declared"), [(None, None), ("0", 0), ("65536", 65536), (" 120 ", 120)])
def test_declared_length_within_the_limit_passes(header, declared) -> None:
    assert check_declared_length(header) == declared


@pytest.mark.parametrize("header", ["65537", str(100 * 1024 * 1024), "99999999999999999999"])
def test_declared_length_over_the_limit_is_too_large(header) -> None:
    refusal = rejected(check_declared_length, header)
    assert refusal.reason is Rejection.TOO_LARGE and str(MAX_BODY_BYTES) in refusal.detail


@pytest.mark.parametrize("header", ["", "-1", "1e6", "12 34", "0x10", "\u0661\u0662", "9" * 21])
def test_declared_length_that_is_no_length_is_malformed(header) -> None:
    assert rejected(check_declared_length, header).reason is Rejection.MALFORMED


@pytest.mark.parametrize("limit", [0, 1023, 1024 * 1024 + 1, True, 2048.0])
def test_limit_outside_1_kib_to_1_mib_is_refused(limit) -> None:
    with pytest.raises(ValueError, match="1024 to 1048576"):
        check_max_body_bytes(limit)


def test_limit_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(MAX_BODY_ENV, raising=False)
    assert max_body_bytes_from_env() == MAX_BODY_BYTES
    monkeypatch.setenv(MAX_BODY_ENV, " 2048 ")
    assert max_body_bytes_from_env() == 2048
    for bad in ("64k", "10", "-5"):
        monkeypatch.setenv(MAX_BODY_ENV, bad)
        with pytest.raises(ValueError, match=MAX_BODY_ENV):
            max_body_bytes_from_env()
        with pytest.raises(ValueError, match=MAX_BODY_ENV):
            create_app(_receiver())  # when the plugin loads, not on the first webhook


def test_body_is_read_only_until_it_passes_the_limit() -> None:
    taken: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            taken.append(1)
            yield b"x" * 16384

    refusal = rejected(asyncio.run, read_limited(endless(), 65536))
    assert refusal.reason is Rejection.TOO_LARGE and len(taken) == 5, "read past the limit"

    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"ab", b"", b"cd"):
            yield piece

    assert asyncio.run(read_limited(pieces(), 4)) == b"abcd"


def test_oversized_body_is_refused_before_the_secret_is_looked_up_or_the_hmac_computed() -> None:
    asked: list[str] = []
    receiver = _receiver(asked)
    body = b"{" + b" " * MAX_BODY_BYTES + b"}"
    refusal = rejected(receiver.receive, "acme", body, sign(SECRET, body, NOW))
    assert refusal.reason is Rejection.TOO_LARGE and asked == []


def test_missing_signature_is_refused_before_the_secret_is_looked_up() -> None:
    asked: list[str] = []
    assert rejected(_receiver(asked).receive, "acme", b"{}", None).reason is Rejection.BAD_SIGNATURE
    assert asked == []


def test_every_rejection_has_its_http_status() -> None:
    assert set(REJECTION_STATUS) == set(Rejection)
    assert REJECTION_STATUS[Rejection.TOO_LARGE] == 413 and REJECTION_STATUS[Rejection.BAD_SIGNATURE] == 401


@pytest.mark.parametrize(("headers", "body", "status", "reason", "closes"), [
    ({}, b"x" * 100, 401, "bad_signature", True),
    ({SIGNATURE_HEADER: "garbage"}, b"x" * 100, 401, "bad_signature", True),
    ({SIGNATURE_HEADER: f"t={NOW},v1={'0' * 64}"}, b"x" * (MAX_BODY_BYTES + 1), 413, "too_large", True),
    # Read whole (it is small), then refused by the HMAC; the connection may be reused.
    ({SIGNATURE_HEADER: f"t={NOW},v1={'0' * 64}"}, b"not json", 401, "bad_signature", False),
])
def test_app_answers_refusals_and_closes_when_the_body_was_not_read(headers, body, status, reason, closes) -> None:
    with TestClient(create_app(_receiver())) as client:
        response = client.post("/hris/acme/webhooks", content=body, headers=headers)
    assert (response.status_code, response.json()["reason"]) == (status, reason)
    assert (response.headers.get("connection") == "close") is closes


def test_app_refuses_a_chunked_body_over_the_limit() -> None:
    body = json.dumps({"padding": "p" * MAX_BODY_BYTES}).encode()

    def chunks():
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    with TestClient(create_app(_receiver())) as client:
        response = client.post("/hris/acme/webhooks", content=chunks(),
                               headers={SIGNATURE_HEADER: sign(SECRET, body, NOW)})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert (response.status_code, response.json()["reason"]) == (413, "too_large")


def _receiver(asked: list[str] | None = None) -> WebhookReceiver:
    def secret_for(tenant_id: str) -> str:
        if asked is not None:
            asked.append(tenant_id)
        return SECRET

    return WebhookReceiver("postgresql://unused/none", secret_for=secret_for, trigger=_never, clock=lambda: NOW)


def _never(event) -> str:
    raise AssertionError("a rejected delivery must not trigger anything")
