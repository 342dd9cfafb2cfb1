"""LMS completion webhooks (``completion.recorded``): verify, record durably, then wake a run up.

Plain code, importable without Airflow; :mod:`credsync.events.app` puts it behind HTTP.

The contract (``sandbox/lms_events.py`` sends exactly this):

- header ``X-LMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``, the
  scheme of every signed webhook credsync receives (:mod:`credsync.ingest.signed_webhooks`);
- body ``{event_id, type: "completion.recorded", tenant_id, occurred_at, completion}`` where
  ``completion`` is one item of the LMS REST completions export (``enrollment_id``,
  ``user_external_id``, ``course_code``, ``completion_status``, ``updated_at``, ...), so an event
  and the scheduled pull carry the same record and dedupe on the same key
  (``core.completions (tenant_id, 'lms_rest', enrollment_id)``).

Checked in the order of the HRIS receiver (signature header, size, tenant, HMAC, timestamp
window, contract), then: an ``event_id`` is recorded once per tenant
(``audit.lms_completion_events``, primary key (tenant_id, event_id)); the same event again is
answered as already received, a different body under a seen id is refused.

The row is committed before the wake-up is sent, and the answer (202) waits for that commit: an
accepted event is never lost. The wake-up (a message on Redis that the ``completion_events``
DAG's AssetWatcher waits for) may fail or be lost; the event stays ``received`` and the DAG's
schedule (the sweep) or, at the latest, the hourly LMS pull picks it up.
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
from credsync.ingest.signed_webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    MAX_BODY_BYTES,
    Rejection,
    WebhookRejected,
)
from credsync.paths import sql_text

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-LMS-Signature"
EVENT_TYPE = "completion.recorded"
EVENT_FIELDS = ("event_id", "type", "tenant_id", "occurred_at", "completion")
COMPLETION_FIELDS = ("enrollment_id", "user_external_id", "course_code")
_MAX_ID_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Outcome(StrEnum):
    ACCEPTED = "accepted"                    # new event, recorded (and a run woken up)
    ALREADY_RECEIVED = "already_received"    # the same event again; recorded once


@dataclass(frozen=True)
class CompletionEvent:
    """A verified LMS completion event."""

    tenant_id: str
    event_id: str
    occurred_at: datetime
    completion: dict[str, Any]
    body: dict[str, Any]

    @property
    def enrollment_id(self) -> str:
        return str(self.completion["enrollment_id"])

    @property
    def employee_id(self) -> str:
        return str(self.completion["user_external_id"])


@dataclass(frozen=True)
class Receipt:
    outcome: Outcome
    tenant_id: str
    event_id: str
    woken: bool


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-LMS-Signature`` value for ``body`` sent at ``timestamp``."""
    return signed.sign(secret, body, timestamp)


def parse_event(tenant_id: str, body: bytes, *, max_body_bytes: int = MAX_BODY_BYTES) -> CompletionEvent:
    """The event in ``body``, checked against the contract; raises ``malformed``."""
    def malformed(detail: str) -> WebhookRejected:
        return WebhookRejected(Rejection.MALFORMED, detail)

    data = signed.parse_json_object(body, max_body_bytes=max_body_bytes, contract_fields=EVENT_FIELDS)
    for name in ("event_id", "type", "tenant_id", "occurred_at"):
        _check_text(data, name, malformed)
    if data["type"] != EVENT_TYPE:
        raise malformed(f"field 'type' must be {EVENT_TYPE!r}, got {data['type']!r}")
    if data["tenant_id"] != tenant_id:
        raise malformed(f"field 'tenant_id' {data['tenant_id']!r} differs from the tenant {tenant_id!r} of the URL")
    try:
        occurred_at = datetime.fromisoformat(data["occurred_at"])
    except ValueError:
        raise malformed(f"field 'occurred_at' {data['occurred_at']!r} is not an ISO 8601 timestamp") from None
    if occurred_at.tzinfo is None:
        raise malformed("field 'occurred_at' has no UTC offset")
    completion = data.get("completion")
    if not isinstance(completion, dict):
        raise malformed("field 'completion' must be an LMS completion object")
    for name in COMPLETION_FIELDS:
        _check_text(completion, name, malformed, where="completion.")
    # The rest of the completion (status, score, timestamps) is the LMS gate's to judge, exactly as
    # when the pull reads it: a bad score is quarantined there with its rule, not refused here.
    return CompletionEvent(tenant_id=tenant_id, event_id=data["event_id"], occurred_at=occurred_at,
                           completion=completion, body=data)


def _check_text(data: dict[str, Any], name: str, malformed: Callable[[str], WebhookRejected],
                where: str = "") -> None:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise malformed(f"field {where}{name!r} must be a non-empty string")
    if len(value) > _MAX_ID_LENGTH:
        raise malformed(f"field {where}{name!r} is longer than {_MAX_ID_LENGTH} characters")
    if _CONTROL.search(value):
        raise malformed(f"field {where}{name!r} contains a control character")


def log_rejection(tenant_id: str, rejected: WebhookRejected) -> None:
    """Log a refused delivery: never the secret or the signature."""
    log.warning("tenant %s: LMS completion webhook rejected (%s): %s", signed.shown_tenant(tenant_id),
                rejected.reason.value, rejected.detail)


class CompletionReceiver:
    """Records each signed completion event once, then wakes the processing run up.

    ``secret_for(tenant_id)`` gives the tenant's webhook secret, or None for a tenant we do not
    serve. ``wake(tenant_id, event_id)`` tells the ``completion_events`` DAG there is work; it
    must be quick, and its failure only delays processing until the sweep (the event is
    already committed when it is called).
    """

    def __init__(
        self,
        warehouse_url: str,
        *,
        secret_for: Callable[[str], str | None],
        wake: Callable[[str, str], None],
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if tolerance_seconds <= 0:
            raise ValueError(f"tolerance_seconds must be positive, got {tolerance_seconds}")
        self.warehouse_url = warehouse_url
        self.secret_for = secret_for
        self.wake = wake
        self.tolerance_seconds = tolerance_seconds
        self.max_body_bytes = signed.check_max_body_bytes(max_body_bytes)
        self.clock = clock

    def receive(self, tenant_id: str, body: bytes, signature_header: str | None) -> Receipt:
        """Verify, record and wake; raises :class:`WebhookRejected` when the delivery is refused."""
        try:
            event = self._verified(tenant_id, body, signature_header)
            outcome, pending = self._record(event)
        except WebhookRejected as exc:
            log_rejection(tenant_id, exc)
            raise
        woken = self._wake(event) if pending else False
        return Receipt(outcome, event.tenant_id, event.event_id, woken)

    def _verified(self, tenant_id: str, body: bytes, signature_header: str | None) -> CompletionEvent:
        signed.check_signature_header(signature_header, SIGNATURE_HEADER)
        signed.check_body_size(body, self.max_body_bytes)
        secret = self.secret_for(tenant_id) if signed.TENANT_ID.match(tenant_id) else None
        if not secret:
            raise WebhookRejected(Rejection.UNKNOWN_TENANT, "no LMS completion webhooks are configured for this tenant")
        signed.verify_signature(secret, body, signature_header, now=self.clock(),
                                tolerance_seconds=self.tolerance_seconds, header_name=SIGNATURE_HEADER)
        return parse_event(tenant_id, body, max_body_bytes=self.max_body_bytes)

    def _record(self, event: CompletionEvent) -> tuple[Outcome, bool]:
        """Commit the event; (outcome, whether it still waits to be processed)."""
        from psycopg.types.json import Jsonb

        from credsync.warehouse import connect

        keys = {"tenant_id": event.tenant_id, "event_id": event.event_id}
        with connect(self.warehouse_url) as conn:
            claimed = conn.execute(sql_text("events/record_event.sql"), {
                **keys, "enrollment_id": event.enrollment_id, "employee_id": event.employee_id,
                "course_code": str(event.completion["course_code"]), "occurred_at": event.occurred_at,
                "body": Jsonb(event.body)}).fetchone()
            if claimed is not None:
                conn.commit()
                return Outcome.ACCEPTED, True
            stored_body, status = conn.execute(sql_text("events/event_seen.sql"), keys).fetchone()
            if stored_body != event.body:
                conn.rollback()
                raise WebhookRejected(Rejection.REPLAYED_WITH_DIFFERENT_BODY,
                                      f"event {event.event_id!r} was received before with a different body")
            conn.execute(sql_text("events/event_redelivered.sql"), keys)
            conn.commit()
        log.info("tenant %s: LMS completion event %s delivered again (%s)", event.tenant_id, event.event_id, status)
        return Outcome.ALREADY_RECEIVED, status == "received"

    def _wake(self, event: CompletionEvent) -> bool:
        try:
            self.wake(event.tenant_id, event.event_id)
        except Exception as exc:  # the event is committed: the sweep processes it without the wake-up
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("tenant %s: completion event %s recorded; wake-up failed (%s), the sweep picks it up",
                        event.tenant_id, event.event_id, error)
            from credsync.warehouse import connect

            with connect(self.warehouse_url) as conn:
                conn.execute(sql_text("events/wakeup_failed.sql"),
                             {"tenant_id": event.tenant_id, "event_id": event.event_id, "error": error})
                conn.commit()
            return False
        return True
