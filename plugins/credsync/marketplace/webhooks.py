"""Member change webhooks from the talent marketplace in: verified, recorded once, applied by the next sync.

Plain code, importable without Airflow; :mod:`credsync.marketplace.webhooks_app` puts it behind HTTP.
The contract (sandbox/marketplace/webhooks.py sends exactly this):

- headers ``X-Marketplace-Timestamp: <unix seconds>`` and ``X-Marketplace-Signature: v1=<hex
  HMAC-SHA256(webhook_secret, "<t>.<raw body>")>`` (several ``v1=`` while a secret rotates): the scheme
  of every credsync webhook (:mod:`credsync.ingest.signed_webhooks`) with ``t`` in its own header, so
  both are read as ``t=<t>,v1=...``; the secret is extra ``webhook_secret`` of the tenant's marketplace
  Connection (``marketplace_<tenant>``, the profile's ``conn``);
- body ``{event_id, type, member_id, occurred_at, data}``, ``type`` ``member.updated`` or ``member.deleted``.

Checked in order: headers readable, body within the limit, tenant known, signature (constant time),
timestamp within the window (300 s), body well-formed. An ``event_id`` is recorded once
(``core.marketplace_webhook_events``): the same event again is answered as already processed, a
different body under a seen id is refused. Nothing here changes HR data or the marketplace: the
tenant's next marketplace_sync events task applies what was recorded (:mod:`credsync.marketplace.webhooks_apply`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credsync.ingest import signed_webhooks as signed
from credsync.ingest.signed_webhooks import Rejection, WebhookRejected

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Marketplace-Timestamp"
SIGNATURE_HEADER = "X-Marketplace-Signature"
EVENT_TYPES = frozenset({"member.updated", "member.deleted"})
EVENT_FIELDS = ("event_id", "type", "member_id", "occurred_at")
_MAX_FIELD = 500


@dataclass(frozen=True)
class Receipt:
    outcome: str  # "accepted" (new, recorded) or "already_processed" (the same event again)
    tenant_id: str
    event_id: str


def signature_header(timestamp: str | None, signature: str | None) -> str | None:
    """The two marketplace headers as the one ``t=<t>,v1=...`` value the shared verifier reads."""
    if not timestamp or not signature:
        return None
    return f"t={timestamp.strip()},{signature}"


def check_headers(timestamp: str | None, signature: str | None) -> None:
    """``bad_signature`` when either header is missing or unreadable (before the body is read)."""
    signed.check_signature_header(signature_header(timestamp, signature),
                                  f"{TIMESTAMP_HEADER}/{SIGNATURE_HEADER}")


def parse_event(body: bytes, *, max_body_bytes: int = signed.MAX_BODY_BYTES) -> dict[str, Any]:
    """The event in ``body`` checked against the contract; raises ``malformed``."""
    data = signed.parse_json_object(body, max_body_bytes=max_body_bytes, contract_fields=(*EVENT_FIELDS, "data"))
    for name in EVENT_FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_FIELD:
            raise WebhookRejected(Rejection.MALFORMED,
                                  f"field {name!r} must be a non-empty string of at most {_MAX_FIELD} characters")
    if data["type"] not in EVENT_TYPES:
        raise WebhookRejected(Rejection.MALFORMED, f"field 'type' must be one of {sorted(EVENT_TYPES)}, "
                                                   f"got {data['type'][:50]!r}")
    if not isinstance(data.get("data", {}), dict):
        raise WebhookRejected(Rejection.MALFORMED, "field 'data' must be an object")
    try:
        occurred_at = datetime.fromisoformat(data["occurred_at"].replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRejected(Rejection.MALFORMED, "field 'occurred_at' is not an ISO 8601 timestamp") from None
    if occurred_at.tzinfo is None:
        raise WebhookRejected(Rejection.MALFORMED, "field 'occurred_at' has no UTC offset")
    return data


class MarketplaceWebhookReceiver:
    """Turns a signed member change into at most one recorded webhook event.

    ``secret_for(tenant_id)`` gives the tenant's marketplace webhook secret, or None for a tenant
    credsync does not sync with the marketplace (or without one).
    """

    def __init__(self, warehouse_url: str, *, secret_for: Callable[[str], str | None],
                 tolerance_seconds: float = signed.DEFAULT_TOLERANCE_SECONDS,
                 max_body_bytes: int = signed.MAX_BODY_BYTES, clock: Callable[[], float] = time.time) -> None:
        if tolerance_seconds <= 0:
            raise ValueError(f"tolerance_seconds must be positive, got {tolerance_seconds}")
        self.warehouse_url, self.secret_for, self.clock = warehouse_url, secret_for, clock
        self.tolerance_seconds = tolerance_seconds
        self.max_body_bytes = signed.check_max_body_bytes(max_body_bytes)

    def receive(self, tenant_id: str, body: bytes, timestamp: str | None, signature: str | None) -> Receipt:
        """Verify and record one delivery; raises :class:`WebhookRejected` (logged with its reason) if refused."""
        header = signature_header(timestamp, signature)
        try:
            check_headers(timestamp, signature)
            signed.check_body_size(body, self.max_body_bytes)
            secret = self.secret_for(tenant_id) if signed.TENANT_ID.match(tenant_id) else None
            if not secret:
                raise WebhookRejected(Rejection.UNKNOWN_TENANT, "no marketplace webhooks for this tenant")
            signed.verify_signature(secret, body, header, now=self.clock(), tolerance_seconds=self.tolerance_seconds,
                                    header_name=SIGNATURE_HEADER)
            return self._record(tenant_id, parse_event(body, max_body_bytes=self.max_body_bytes))
        except WebhookRejected as exc:
            log_refusal(tenant_id, exc)
            raise

    def _record(self, tenant_id: str, event: dict[str, Any]) -> Receipt:
        from psycopg.types.json import Jsonb

        from credsync.warehouse import connect

        keys = {"tenant_id": tenant_id, "event_id": event["event_id"]}
        with connect(self.warehouse_url) as conn:
            new = conn.execute(
                "INSERT INTO core.marketplace_webhook_events (tenant_id, event_id, event_type, member_id, occurred_at,"
                " body) VALUES (%(tenant_id)s, %(event_id)s, %(type)s, %(member_id)s, %(occurred_at)s, %(body)s)"
                " ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING event_id",
                {**keys, "type": event["type"], "member_id": event["member_id"],
                 "occurred_at": event["occurred_at"], "body": Jsonb(event)}).fetchone()
            if new is None:
                stored = conn.execute("SELECT body FROM core.marketplace_webhook_events WHERE tenant_id = %(tenant_id)s"
                                      " AND event_id = %(event_id)s", keys).fetchone()[0]
                if stored != event:
                    raise WebhookRejected(Rejection.REPLAYED_WITH_DIFFERENT_BODY,
                                          f"event {event['event_id'][:100]!r} was received before with another body")
                conn.execute("UPDATE core.marketplace_webhook_events SET deliveries = deliveries + 1"
                             " WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s", keys)
            conn.commit()
        log.info("tenant %s: marketplace %s for member %s recorded (%s)", tenant_id, event["type"],
                 event["member_id"][:100], "new" if new else "again")
        return Receipt("accepted" if new else "already_processed", tenant_id, event["event_id"])


def log_refusal(tenant_id: str, exc: WebhookRejected) -> None:
    log.warning("tenant %s: marketplace webhook refused (%s): %s", signed.shown_tenant(tenant_id),
                exc.reason.value, exc.detail)
