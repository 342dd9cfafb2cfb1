"""The registry sandbox's notification inbox checks what a real registry would: signature, window, event ids."""

from __future__ import annotations

import json
import time

import pytest

from credsync.hooks.notifications import SIGNATURE_HEADER
from credsync.ingest.signed_webhooks import sign
from tests.integration.delivery.helpers import admin, seed_credentials

pytestmark = pytest.mark.slow


def test_the_inbox_refuses_forged_stale_and_reused_notifications(
        fresh_warehouse_url, registry_sandbox, registry_url, registry_client):
    from credsync.delivery.push import push_submissions
    from credsync.warehouse import connect
    from tests.integration.delivery.conftest import TEST_SETTINGS

    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 1)
    push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    [certificate] = list(registry_client.list_certificates("acme"))
    secret = registry_sandbox.env["SANDBOX_REGISTRY_NOTIFICATION_SECRET"]
    http = registry_client.http

    def post(event: dict, *, key: str = secret, at: float | None = None, body: bytes | None = None) -> int:
        raw = body if body is not None else json.dumps(event).encode()
        stamp = int(at if at is not None else time.time())
        return http.call("POST", "/v1/notifications", data=raw, retry=False, headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(key, raw, stamp)}).status

    event = {"event_id": "e-1", "type": "credential.issued", "tenant_id": "acme",
             "certificate_id": certificate["id"], "occurred_at": "2026-12-01T10:00:00+00:00"}
    assert post(event, key="guessed") == 401
    assert post(event, at=time.time() - 301) == 400
    assert post(event) == 202
    assert post(event) == 200  # the same notification again: kept once
    assert post({**event, "occurred_at": "2026-12-02T10:00:00+00:00"}) == 409
    assert post({**event, "event_id": "e-2", "certificate_id": "nope"}) == 422
    assert post({**event, "event_id": "e-3", "type": "credential.revoked"}) == 422  # still active there
    [kept] = admin(registry_url, "GET", "/admin/notifications")["data"]
    assert (kept["event_id"], kept["deliveries"]) == ("e-1", 2)
