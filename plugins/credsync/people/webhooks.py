"""HRIS lifecycle webhooks (``worker.hired`` / ``worker.terminated``): verify, de-duplicate, record, trigger.

Plain code, importable without Airflow; ``credsync.people.webhook_app`` puts
it behind HTTP and wires it to Airflow.

The contract (sandbox/hris/webhooks.py sends exactly this):

- header ``X-HRIS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``
  (several ``v1=`` entries are allowed, so the HRIS can sign with an old and a
  new secret while one is rotated);
- body ``{event_id, type, tenant_id, employee_id, occurred_at}``.

Rules, in the order they are checked. The HTTP layer checks the first two
from the headers alone, before it reads a byte of the body, and enforces the
size limit while it reads, so an unauthenticated sender can never make the
receiver hold more than ``max_body_bytes`` (64 KiB; an event is a few hundred
bytes) of its request:

1. the ``X-HRIS-Signature`` header is present and readable (``bad_signature``,
   see :func:`check_signature_header`);
2. the body is at most ``max_body_bytes`` — as declared by Content-Length, and
   as actually read (``too_large``, see :func:`check_declared_length`);
3. the path tenant is one we serve and has a webhook secret (``unknown_tenant``);
4. the signature matches, compared in constant time (``bad_signature``) — nothing
   parses the body before this, so unauthenticated bytes never reach the JSON parser;
5. ``t`` lies within ``tolerance_seconds`` of now, either side (``stale_timestamp``)
   — with the signature this bounds how long a captured request can be replayed;
6. the body is a well-formed event of the path tenant (``malformed``), storable
   as it is (no NUL, lone surrogate or non-finite number anywhere in it);
7. an ``event_id`` is processed once: the same event delivered again is
   answered as already processed without a second trigger; a different body
   under a seen ``event_id`` is refused (``replayed_with_different_body``).

Every accepted event is stored in ``audit.hris_webhook_events`` in the same
transaction that records the trigger's outcome. If the trigger fails the event
is kept as ``trigger_failed`` and the next delivery of it retries the trigger.
The secret and the signature are never logged, stored or put in an error.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from credsync.ingest import signed_webhooks as signed
from credsync.ingest.signed_webhooks import (  # noqa: F401 - part of this module's interface
    DEFAULT_TOLERANCE_SECONDS,
    MAX_BODY_BYTES,
    MAX_BODY_BYTES_CEILING,
    Rejection,
    WebhookRejected,
    check_body_size,
    check_declared_length,
    check_max_body_bytes,
    sign,
)
from credsync.paths import sql_text

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-HRIS-Signature"
EVENT_TYPES = frozenset({"worker.hired", "worker.terminated", "worker.erasure_requested"})
EVENT_FIELDS = ("event_id", "type", "tenant_id", "employee_id", "occurred_at")
_MAX_ID_LENGTH = 200
_TENANT_ID = signed.TENANT_ID
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Outcome(StrEnum):
    ACCEPTED = "accepted"                    # new event, run triggered
    ALREADY_PROCESSED = "already_processed"  # the same event again; nothing triggered
    TRIGGER_FAILED = "trigger_failed"        # recorded, but the run could not be triggered


@dataclass(frozen=True)
class WebhookEvent:
    """A verified HRIS lifecycle event."""

    tenant_id: str
    event_id: str
    type: str
    employee_id: str
    occurred_at: datetime
    body: dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    """What became of one accepted delivery."""

    outcome: Outcome
    tenant_id: str
    event_id: str
    triggered_run: str | None = None


def verify_signature(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check an ``X-HRIS-Signature`` header against ``body``; returns the signed timestamp
    (:func:`credsync.ingest.signed_webhooks.verify_signature`)."""
    return signed.verify_signature(secret, body, header, now=now, tolerance_seconds=tolerance_seconds,
                                   header_name=SIGNATURE_HEADER)


def check_signature_header(header: str | None) -> None:
    """Raise ``bad_signature`` when the ``X-HRIS-Signature`` header is missing or unreadable."""
    signed.check_signature_header(header, SIGNATURE_HEADER)


def parse_event(tenant_id: str, body: bytes, *, max_body_bytes: int = MAX_BODY_BYTES) -> WebhookEvent:
    """The event in ``body``, checked against the contract; raises ``malformed``."""
    def malformed(detail: str) -> WebhookRejected:
        return WebhookRejected(Rejection.MALFORMED, detail)

    data = signed.parse_json_object(body, max_body_bytes=max_body_bytes, contract_fields=EVENT_FIELDS)
    for name in EVENT_FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise malformed(f"field {name!r} must be a non-empty string")
        if len(value) > _MAX_ID_LENGTH:
            raise malformed(f"field {name!r} is longer than {_MAX_ID_LENGTH} characters")
        if _CONTROL.search(value):
            raise malformed(f"field {name!r} contains a control character")
    if data["type"] not in EVENT_TYPES:
        raise malformed(f"field 'type' must be one of {sorted(EVENT_TYPES)}, got {data['type']!r}")
    if data["tenant_id"] != tenant_id:
        raise malformed(f"field 'tenant_id' {data['tenant_id']!r} differs from the tenant {tenant_id!r} of the URL")
    try:
        occurred_at = datetime.fromisoformat(data["occurred_at"])
    except ValueError:
        raise malformed(f"field 'occurred_at' {data['occurred_at']!r} is not an ISO 8601 timestamp") from None
    if occurred_at.tzinfo is None:
        raise malformed("field 'occurred_at' has no UTC offset")
    return WebhookEvent(tenant_id=tenant_id, event_id=data["event_id"], type=data["type"],
                        employee_id=data["employee_id"], occurred_at=occurred_at, body=data)


def log_rejection(tenant_id: str, rejected: WebhookRejected) -> None:
    """Log a refused delivery: never the secret or the signature; the path tenant only if it is a tenant id."""
    shown = tenant_id if _TENANT_ID.match(tenant_id) else "<not a tenant id>"
    log.warning("tenant %s: HRIS webhook rejected (%s): %s", shown, rejected.reason.value, rejected.detail)


class WebhookReceiver:
    """Turns a signed delivery into at most one triggered run per event.

    ``secret_for(tenant_id)`` gives the tenant's webhook secret, or None for a
    tenant we do not serve (or that has no secret configured).
    ``trigger(event)`` starts the work that picks the change up and returns
    a run id; it must be quick (the HRIS waits for the answer) and is called
    at most once per event unless it raised.
    """

    def __init__(
        self,
        warehouse_url: str,
        *,
        secret_for: Callable[[str], str | None],
        trigger: Callable[[WebhookEvent], str],
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if tolerance_seconds <= 0:
            raise ValueError(f"tolerance_seconds must be positive, got {tolerance_seconds}")
        self.warehouse_url = warehouse_url
        self.secret_for = secret_for
        self.trigger = trigger
        self.tolerance_seconds = tolerance_seconds
        self.max_body_bytes = check_max_body_bytes(max_body_bytes)
        self.clock = clock

    def receive(self, tenant_id: str, body: bytes, signature_header: str | None) -> Receipt:
        """Verify and process one delivery; raises :class:`WebhookRejected` when it is refused."""
        try:
            event = self._verified(tenant_id, body, signature_header)
            return self._process(event)
        except WebhookRejected as exc:
            log_rejection(tenant_id, exc)
            raise

    def _verified(self, tenant_id: str, body: bytes, signature_header: str | None) -> WebhookEvent:
        check_signature_header(signature_header)
        # Before the HMAC: hashing an oversized body is work an unauthenticated sender should not buy.
        check_body_size(body, self.max_body_bytes)
        secret = self.secret_for(tenant_id) if _TENANT_ID.match(tenant_id) else None
        if not secret:
            raise WebhookRejected(Rejection.UNKNOWN_TENANT, "no HRIS webhooks are configured for this tenant")
        verify_signature(secret, body, signature_header, now=self.clock(), tolerance_seconds=self.tolerance_seconds)
        return parse_event(tenant_id, body, max_body_bytes=self.max_body_bytes)

    def _process(self, event: WebhookEvent) -> Receipt:
        from psycopg.types.json import Jsonb

        from credsync.warehouse import connect

        keys = {"tenant_id": event.tenant_id, "event_id": event.event_id}
        with connect(self.warehouse_url) as conn:
            claimed = conn.execute(
                sql_text("people/webhook_claim.sql"),
                {**keys, "type": event.type, "employee_id": event.employee_id,
                 "occurred_at": event.occurred_at, "body": Jsonb(event.body)},
            ).fetchone()
            if claimed is None:
                stored_body, status, run = conn.execute(sql_text("people/webhook_seen.sql"), keys).fetchone()
                if stored_body != event.body:
                    conn.rollback()
                    raise WebhookRejected(
                        Rejection.REPLAYED_WITH_DIFFERENT_BODY,
                        f"event {event.event_id!r} was received before with a different body",
                    )
                conn.execute(sql_text("people/webhook_redelivered.sql"), keys)
                if status == "triggered":
                    conn.commit()
                    log.info("tenant %s: HRIS webhook %s delivered again; already processed by run %s",
                             event.tenant_id, event.event_id, run)
                    return Receipt(Outcome.ALREADY_PROCESSED, event.tenant_id, event.event_id, run)
                # The earlier delivery was recorded but its trigger failed: this one retries it.
            receipt = self._trigger(conn, event, keys)
            conn.commit()
        return receipt

    def _trigger(self, conn: Any, event: WebhookEvent, keys: dict[str, str]) -> Receipt:
        try:
            run = self.trigger(event)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            conn.execute(sql_text("people/webhook_triggered.sql"),
                         {**keys, "status": "trigger_failed", "triggered_run": None, "trigger_error": error})
            log.error("tenant %s: HRIS webhook %s (%s, worker %s) recorded but the run was not triggered: %s",
                      event.tenant_id, event.event_id, event.type, event.employee_id, error)
            return Receipt(Outcome.TRIGGER_FAILED, event.tenant_id, event.event_id)
        conn.execute(sql_text("people/webhook_triggered.sql"),
                     {**keys, "status": "triggered", "triggered_run": run, "trigger_error": None})
        log.info("tenant %s: HRIS webhook %s accepted (%s, worker %s); run %s picks it up",
                 event.tenant_id, event.event_id, event.type, event.employee_id, run)
        return Receipt(Outcome.ACCEPTED, event.tenant_id, event.event_id, run)
