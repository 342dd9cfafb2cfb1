"""Registry notifications in: the registry's acknowledgement or rejection (after manual review) of ours.

Plain code, importable without Airflow; :mod:`credsync.delivery.notifications_app` puts it behind
HTTP. The contract (sandbox/registry/notifications.py sends exactly this):

- header ``X-Registry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``,
  the scheme of every credsync webhook (:mod:`credsync.ingest.signed_webhooks`), with the secret
  in the tenant's registry Connection extra ``webhook_secret``;
- body ``{event_id, type, tenant_id, notification_event_id, occurred_at, reason?}``: ``type`` is
  ``notification.acknowledged`` or ``notification.rejected`` (then ``reason`` is required),
  ``notification_event_id`` the event id credsync sent.

Checked in order: signature header readable, body within the limit, tenant known, signature
matches (constant time), timestamp inside the window (300 s), body well-formed, the notification
it names exists. An ``event_id`` is processed once (``audit.registry_webhook_events``): the same
event again is answered as already processed; a different body under a seen id is refused.

An acknowledgement sets ``registry_acked_at`` on the notification; a rejection sets
``registry_rejected_at`` and ``review_reason`` and dead-letters the notification (source
``registry_notification``, reason ``registry_rejected_review``, the registry's reason in the
detail), so it shows in the dead-letter listing for a human. A review is final: a later,
different decision on the same notification is recorded but changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from credsync.ingest import signed_webhooks as signed
from credsync.ingest.signed_webhooks import Rejection, WebhookRejected
from credsync.paths import sql_text

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Registry-Signature"
EVENT_TYPES = frozenset({"notification.acknowledged", "notification.rejected"})
EVENT_FIELDS = ("event_id", "type", "tenant_id", "notification_event_id", "occurred_at")
REJECTED_REASON = "registry_rejected_review"
_MAX_FIELD = 500


class UnknownNotification(WebhookRejected):
    """The event names a notification credsync never sent (answered 404, nothing recorded)."""

    def __init__(self, detail: str) -> None:
        super().__init__(Rejection.MALFORMED, detail)


class Outcome(StrEnum):
    APPLIED = "applied"                      # new event, the notification's review recorded
    ALREADY_REVIEWED = "already_reviewed"    # new event about a notification reviewed before: kept, no change
    ALREADY_PROCESSED = "already_processed"  # the same event again


@dataclass(frozen=True)
class RegistryEvent:
    tenant_id: str
    event_id: str
    type: str
    notification_event_id: str
    occurred_at: datetime
    reason: str | None
    body: dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    outcome: Outcome
    tenant_id: str
    event_id: str
    notification_event_id: str


def parse_event(tenant_id: str, body: bytes, *, max_body_bytes: int = signed.MAX_BODY_BYTES) -> RegistryEvent:
    """The event in ``body`` checked against the contract; raises ``malformed``."""
    data = signed.parse_json_object(body, max_body_bytes=max_body_bytes, contract_fields=(*EVENT_FIELDS, "reason"))

    def malformed(detail: str) -> WebhookRejected:
        return WebhookRejected(Rejection.MALFORMED, detail)

    for name in EVENT_FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_FIELD:
            raise malformed(f"field {name!r} must be a non-empty string of at most {_MAX_FIELD} characters")
    if data["type"] not in EVENT_TYPES:
        raise malformed(f"field 'type' must be one of {sorted(EVENT_TYPES)}, got {data['type'][:50]!r}")
    if data["tenant_id"] != tenant_id:
        raise malformed("field 'tenant_id' differs from the tenant of the URL")
    reason = data.get("reason")
    if data["type"] == "notification.rejected" and (not isinstance(reason, str) or not reason.strip()):
        raise malformed("a rejection needs a non-empty 'reason'")
    if reason is not None and not isinstance(reason, str):
        raise malformed("field 'reason' must be a string")
    try:
        occurred_at = datetime.fromisoformat(data["occurred_at"])
    except ValueError:
        raise malformed("field 'occurred_at' is not an ISO 8601 timestamp") from None
    if occurred_at.tzinfo is None:
        raise malformed("field 'occurred_at' has no UTC offset")
    return RegistryEvent(tenant_id, data["event_id"], data["type"], data["notification_event_id"], occurred_at,
                         reason[:2000] if reason else None, data)


class RegistryNotificationReceiver:
    """Turns a signed registry notification into at most one recorded review.

    ``secret_for(tenant_id)`` gives the tenant's registry webhook secret, or None for a tenant
    credsync does not serve (or without one).
    """

    def __init__(self, warehouse_url: str, *, secret_for: Callable[[str], str | None],
                 tolerance_seconds: float = signed.DEFAULT_TOLERANCE_SECONDS,
                 max_body_bytes: int = signed.MAX_BODY_BYTES, clock: Callable[[], float] = time.time) -> None:
        if tolerance_seconds <= 0:
            raise ValueError(f"tolerance_seconds must be positive, got {tolerance_seconds}")
        self.warehouse_url = warehouse_url
        self.secret_for = secret_for
        self.tolerance_seconds = tolerance_seconds
        self.max_body_bytes = signed.check_max_body_bytes(max_body_bytes)
        self.clock = clock

    def receive(self, tenant_id: str, body: bytes, signature_header: str | None) -> Receipt:
        """Verify and process one delivery; raises :class:`WebhookRejected` when it is refused."""
        try:
            signed.check_signature_header(signature_header, SIGNATURE_HEADER)
            signed.check_body_size(body, self.max_body_bytes)
            secret = self.secret_for(tenant_id) if signed.TENANT_ID.match(tenant_id) else None
            if not secret:
                raise WebhookRejected(Rejection.UNKNOWN_TENANT, "no registry notifications for this tenant")
            signed.verify_signature(secret, body, signature_header, now=self.clock(),
                                    tolerance_seconds=self.tolerance_seconds, header_name=SIGNATURE_HEADER)
            return self._process(parse_event(tenant_id, body, max_body_bytes=self.max_body_bytes))
        except WebhookRejected as exc:
            log.warning("tenant %s: registry notification rejected (%s): %s", signed.shown_tenant(tenant_id),
                        exc.reason.value, exc.detail)
            raise

    def _process(self, event: RegistryEvent) -> Receipt:
        from psycopg.types.json import Jsonb

        from credsync.audit import append_event, dead_letter
        from credsync.warehouse import connect

        keys = {"tenant_id": event.tenant_id, "event_id": event.event_id}
        with connect(self.warehouse_url) as conn:
            notification = conn.execute(
                "SELECT credential_id, idempotency_key FROM core.registry_notifications"
                " WHERE tenant_id = %s AND event_id = %s", (event.tenant_id, event.notification_event_id)).fetchone()
            if notification is None:
                raise UnknownNotification(f"no notification {event.notification_event_id[:100]!r} was sent to the "
                                          "registry for this tenant")
            claimed = conn.execute(sql_text("delivery/notifications/claim_review.sql"), {
                **keys, "type": event.type, "notification_event_id": event.notification_event_id,
                "occurred_at": event.occurred_at, "body": Jsonb(event.body)}).fetchone()
            if claimed is None:
                stored = conn.execute("SELECT body FROM audit.registry_webhook_events"
                                      " WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s", keys).fetchone()
                if stored[0] != event.body:
                    conn.rollback()
                    raise WebhookRejected(Rejection.REPLAYED_WITH_DIFFERENT_BODY,
                                          f"event {event.event_id[:100]!r} was received before with a different body")
                conn.execute("UPDATE audit.registry_webhook_events SET deliveries = deliveries + 1"
                             " WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s", keys)
                conn.commit()
                return Receipt(Outcome.ALREADY_PROCESSED, event.tenant_id, event.event_id,
                               event.notification_event_id)
            decision = "acknowledged" if event.type == "notification.acknowledged" else "rejected"
            applied = conn.execute(sql_text("delivery/notifications/apply_review.sql"), {
                "tenant_id": event.tenant_id, "event_id": event.notification_event_id, "decision": decision,
                "occurred_at": event.occurred_at, "reason": event.reason, "review_event_id": event.event_id,
            }).rowcount
            credential_id, idempotency_key = str(notification[0]), notification[1]
            detail = {"notification_event_id": event.notification_event_id, "registry_event_id": event.event_id,
                      "decision": decision, "reason": event.reason, "applied": bool(applied)}
            append_event(conn, tenant_id=event.tenant_id, event_type=f"registry.review.{decision}",
                         entity_type="credential", entity_key=credential_id, detail=detail)
            if applied and decision == "rejected":
                dead_letter(conn, tenant_id=event.tenant_id, source="registry_notification",
                            entity_key=event.notification_event_id, reason=REJECTED_REASON,
                            detail={"reason": event.reason, "registry_event_id": event.event_id,
                                    "occurred_at": event.occurred_at.isoformat()},
                            payload={"idempotency_key": idempotency_key, "credential_id": credential_id})
            conn.commit()
        outcome = Outcome.APPLIED if applied else Outcome.ALREADY_REVIEWED
        log.info("tenant %s: registry %s notification %s (%s)", event.tenant_id, decision,
                 event.notification_event_id, outcome.value)
        return Receipt(outcome, event.tenant_id, event.event_id, event.notification_event_id)
