"""The HRIS webhook receiver's limits over real HTTP (uvicorn): what it answers before and while it reads.

A body over the limit is answered 413 and never processed, however it is
signed and whether or not it declares its length; an unsigned or
declared-too-large request is answered from its headers alone; nothing is
parsed as JSON before its HMAC matched.
"""

from __future__ import annotations

import http.client
import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from credsync.people.webhook_app import create_app
from credsync.people.webhooks import MAX_BODY_BYTES, SIGNATURE_HEADER, WebhookEvent, WebhookReceiver, sign
from tests.integration.people.test_hris_webhooks import serve, stored_events

SECRET = "limits-test-secret"


class Triggered(list):
    def __call__(self, event: WebhookEvent) -> str:
        self.append(event.event_id)
        return f"run-{event.event_id}"


@dataclass
class Receiver:
    app: FastAPI
    tenant: str  # a tenant of its own per test, so the session's warehouse can be shared
    triggered: Triggered
    warehouse_url: str
    url: str = ""  # once served

    def event(self, size: int) -> bytes:
        """A well-formed event padded (in a field outside the contract) to exactly ``size`` bytes."""
        event = {"event_id": "evt-limits-1", "type": "worker.terminated", "tenant_id": self.tenant,
                 "employee_id": "A000042", "occurred_at": "2026-01-05T08:00:00Z", "padding": ""}
        bare = len(json.dumps(event, separators=(",", ":")).encode())
        body = json.dumps({**event, "padding": "p" * (size - bare)}, separators=(",", ":")).encode()
        assert len(body) == size
        return body

    def stored(self) -> dict:
        return stored_events(self.warehouse_url, self.tenant)


def receiver_for(warehouse_url: str, **kwargs: int) -> Receiver:
    tenant = f"lim_{secrets.token_hex(6)}"
    triggered = Triggered()
    receiver = WebhookReceiver(warehouse_url, secret_for=lambda t: SECRET if t == tenant else None,
                               trigger=triggered, **kwargs)
    return Receiver(create_app(receiver, **kwargs), tenant, triggered, warehouse_url)


@pytest.fixture
def receiver(warehouse_url) -> Iterator[Receiver]:
    served = receiver_for(warehouse_url)
    with serve(served.app) as url:
        served.url = url
        yield served


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def exchange(receiver: Receiver, head: list[str], body: bytes = b"", *, timeout: float = 5) -> tuple[int, dict]:
    """Send ``head`` and ``body`` as they are (no more), then read the answer within ``timeout``.

    A receiver that waits for more body than was sent times out here: that is
    how a test shows an answer came without the rest being read.
    """
    port = port_of(receiver.url)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        lines = [f"POST /hris/{receiver.tenant}/webhooks HTTP/1.1", f"Host: 127.0.0.1:{port}", *head]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except TimeoutError:
            pytest.fail(f"no answer within {timeout}s: the receiver waits for the rest of the body")
        return response.status, {**json.loads(response.read()), "connection": response.getheader("Connection")}


def chunked(body: bytes, piece: int = 16384, *, terminate: bool = True) -> bytes:
    framed = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + piece]), body[i:i + piece])
                      for i in range(0, len(body), piece))
    return framed + (b"0\r\n\r\n" if terminate else b"")


def test_correctly_signed_body_over_the_limit_is_413_and_not_processed(receiver):
    body = receiver.event(MAX_BODY_BYTES + 1)
    status, answer = exchange(receiver, [f"{SIGNATURE_HEADER}: {sign(SECRET, body, int(time.time()))}",
                                    f"Content-Length: {len(body)}"], body)
    assert (status, answer["reason"]) == (413, "too_large")
    assert receiver.triggered == [] and receiver.stored() == {}


def test_correctly_signed_chunked_body_over_the_limit_is_413_and_not_processed(receiver):
    body = receiver.event(MAX_BODY_BYTES + 1)
    status, answer = exchange(receiver, [f"{SIGNATURE_HEADER}: {sign(SECRET, body, int(time.time()))}",
                                    "Transfer-Encoding: chunked"], chunked(body))
    assert (status, answer["reason"]) == (413, "too_large")
    assert receiver.triggered == [] and receiver.stored() == {}


def test_body_at_the_limit_is_still_accepted(receiver):
    body = receiver.event(MAX_BODY_BYTES)
    for framing, sent in ((f"Content-Length: {len(body)}", body), ("Transfer-Encoding: chunked", chunked(body))):
        status, answer = exchange(receiver, [f"{SIGNATURE_HEADER}: {sign(SECRET, body, int(time.time()))}", framing],
                                  sent)
        assert status in (202, 200), answer
    assert receiver.triggered == ["evt-limits-1"] and set(receiver.stored()) == {"evt-limits-1"}


def test_chunked_body_is_refused_once_past_the_limit_without_reading_the_rest(receiver):
    # 1 MiB of a body that never ends: the answer must come from what was read so far.
    endless = chunked(b"x" * (1024 * 1024), terminate=False)
    status, answer = exchange(receiver, [f"{SIGNATURE_HEADER}: t={int(time.time())},v1={'0' * 64}",
                                    "Transfer-Encoding: chunked"], endless)
    assert (status, answer["reason"], answer["connection"]) == (413, "too_large", "close")


def test_declared_length_over_the_limit_is_refused_before_any_body_is_sent(receiver):
    status, answer = exchange(receiver, [f"{SIGNATURE_HEADER}: t={int(time.time())},v1={'0' * 64}",
                                    f"Content-Length: {100 * 1024 * 1024}"])
    assert (status, answer["reason"], answer["connection"]) == (413, "too_large", "close")


def test_missing_signature_is_refused_before_any_body_is_sent(receiver):
    for framing in (f"Content-Length: {100 * 1024 * 1024}", "Transfer-Encoding: chunked"):
        status, answer = exchange(receiver, [framing])
        assert (status, answer["reason"], answer["connection"]) == (401, "bad_signature", "close")


def test_json_is_not_parsed_before_the_hmac_matches(receiver):
    not_json = b'{"event_id": "evt-2", "type": '
    forged = sign("not-the-secret", not_json, int(time.time()))
    status, answer = exchange(receiver, [f"{SIGNATURE_HEADER}: {forged}", f"Content-Length: {len(not_json)}"], not_json)
    assert (status, answer["reason"]) == (401, "bad_signature")
    # The same bytes correctly signed do reach the parser, which names what is wrong.
    status, answer = exchange(receiver, [f"{SIGNATURE_HEADER}: {sign(SECRET, not_json, int(time.time()))}",
                                    f"Content-Length: {len(not_json)}"], not_json)
    assert (status, answer["reason"], answer["detail"]) == (400, "malformed", "body is not JSON")
    assert receiver.triggered == []


def test_configured_limit_applies_to_the_app_and_the_receiver(warehouse_url):
    receiver = receiver_for(warehouse_url, max_body_bytes=2048)
    with serve(receiver.app) as url:
        receiver.url = url
        big = receiver.event(2049)
        status, answer = exchange(receiver, [f"{SIGNATURE_HEADER}: {sign(SECRET, big, int(time.time()))}",
                                             f"Content-Length: {len(big)}"], big)
        assert (status, answer["reason"]) == (413, "too_large") and "2048" in answer["detail"]
        fits = receiver.event(2048)
        status, _ = exchange(receiver, [f"{SIGNATURE_HEADER}: {sign(SECRET, fits, int(time.time()))}",
                                        f"Content-Length: {len(fits)}"], fits)
        assert status == 202 and receiver.triggered == ["evt-limits-1"]
