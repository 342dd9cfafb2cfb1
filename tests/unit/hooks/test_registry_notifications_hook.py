"""RegistryHook.notification_client: the push's OAuth client, a signature from the connection's secret,
and neither notification secret ever on the wire as a header (real loopback server)."""

from __future__ import annotations

import time

import pytest

from credsync.hooks.base import ConnectionConfigError
from credsync.hooks.notifications import SIGNATURE_HEADER
from credsync.hooks.registry import RegistryHook
from credsync.ingest.signed_webhooks import verify_signature
from tests.unit.hooks.loopback import serve, set_connection
from tests.unit.hooks.test_oauth2 import Issuer

EXTRA = {"notification_secret": "sign-me-1", "webhook_secret": "verify-me-2"}


def test_notifications_are_signed_with_the_connection_secret_which_never_travels(monkeypatch):
    issuer = Issuer()
    with serve(issuer) as server:
        set_connection(monkeypatch, "registry_national", host=server.url, login="client-1", password="s3cret",
                       extra=EXTRA)
        body = b'{"event_id":"cs-1-notify"}'
        answer = RegistryHook().notification_client().send("cs-1-notify", body)
    assert answer.status == 200
    sent = next(seen for seen in server.seen if seen.path == "/v1/notifications")
    assert sent.body == body
    assert sent.headers["Idempotency-Key"] == "cs-1-notify"
    assert sent.headers["Authorization"] == "Bearer tok-1"
    verify_signature("sign-me-1", body, sent.headers[SIGNATURE_HEADER], now=time.time(),
                     header_name=SIGNATURE_HEADER)
    for seen in server.seen:
        wire = " ".join(f"{k}: {v}" for k, v in seen.headers.items())
        assert "sign-me-1" not in wire and "verify-me-2" not in wire, f"a secret was sent as a header to {seen.path}"


def test_without_a_notification_secret_no_client_is_built(monkeypatch):
    set_connection(monkeypatch, "registry_national", host="http://127.0.0.1:9", login="client-1", password="x")
    with pytest.raises(ConnectionConfigError, match="notification_secret"):
        RegistryHook().notification_client()
